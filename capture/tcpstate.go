package capture

// tcpState is the state of one TCP endpoint, in Zeek's vocabulary
// (analyzer/protocol/tcp/TCP_Endpoint.h).
type tcpState uint8

const (
	tcpInactive tcpState = iota
	tcpSynSent
	tcpSynAckSent
	tcpPartial
	tcpEstablished
	tcpClosed
	tcpReset
)

// History bits, one per letter and direction, as Zeek's HIST_* masks.
const (
	histSyn uint16 = 1 << iota
	histFin
	histRst
	histFinRst
	histData
	histAck
	histMulti
)

// tcpEndpoint is one side of a TCP connection.
type tcpEndpoint struct {
	state, prevState tcpState
	didClose         bool
	startSeq         uint32
	lastSeq          uint32
	histSeen         uint16
	lastSYN          uint32
	lastFIN          uint32
	lastRST          uint32
	rxmit, rxmitNext uint32
	zeroWin, zwNext  uint32
}

func (e *tcpEndpoint) setState(s tcpState) {
	if s != e.state {
		e.prevState = e.state
		e.state = s
	}
}

// seqDelta is the signed distance a-b in sequence space.
func seqDelta(a, b uint32) int32 { return int32(a - b) }

// tcpConn tracks both endpoints of a flow, Zeek's TCPSessionAdapter
// reduced to what conn_state and history need.
type tcpConn struct {
	ep [2]tcpEndpoint // 0 = originator, 1 = responder
	// closeComplete is set once the close is complete (both sides closed,
	// a RST, or a close towards a peer that never spoke); the flow then
	// moves to the linger list.
	closeComplete bool
}

// conn_state of Zeek's base/protocols/conn/main.zeek.
func (c *tcpConn) connState(history []byte, origSize, respSize uint64) string {
	os, rs := c.ep[0].state, c.ep[1].state
	oInactive := os == tcpInactive || os == tcpPartial
	rInactive := rs == tcpInactive || rs == tcpPartial
	switch {
	case rs == tcpReset:
		if os == tcpSynSent || os == tcpSynAckSent || (os == tcpReset && origSize == 0 && respSize == 0) {
			return "REJ"
		}
		if oInactive {
			return "RSTRH"
		}
		return "RSTR"
	case os == tcpReset:
		if rInactive {
			if rstos0(history) {
				return "RSTOS0"
			}
			return "OTH"
		}
		return "RSTO"
	case rs == tcpClosed && os == tcpClosed:
		return "SF"
	case os == tcpClosed:
		if rInactive {
			return "SH"
		}
		return "S2"
	case rs == tcpClosed:
		if oInactive {
			return "SHR"
		}
		return "S3"
	case os == tcpSynSent && rs == tcpInactive:
		return "S0"
	case os == tcpEstablished && rs == tcpEstablished:
		return "S1"
	}
	return "OTH"
}

// rstos0 matches Zeek's /\^?S[^HAFGIQ]*R.*/ on the history.
func rstos0(h []byte) bool {
	i := 0
	if i < len(h) && h[i] == '^' {
		i++
	}
	if i >= len(h) || h[i] != 'S' {
		return false
	}
	for i++; i < len(h); i++ {
		switch h[i] {
		case 'R':
			return true
		case 'H', 'A', 'F', 'G', 'I', 'Q':
			return false
		}
	}
	return false
}
