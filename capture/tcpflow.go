package capture

// This file follows Zeek's TCPSessionAdapter (Process, update_history,
// update_last_seq and the Update*State functions) closely enough that
// conn_state and history agree with Zeek's conn.log; see the oracle test.

// tooLargeSeqDelta is Zeek's TOO_LARGE_SEQ_DELTA.
const tooLargeSeqDelta = 1048576

// isReuse reports whether a SYN starts a new connection on the key of f
// (Zeek's TCPSessionAdapter::IsReuse).
func (t *FlowTable) isReuse(f *flow, d *Decoded) bool {
	if d.TCPFlags&tcpSYN == 0 {
		return false
	}
	o, r := &f.tcp.ep[0], &f.tcp.ep[1]
	connOrig := o
	if d.TCPFlags&tcpACK != 0 {
		if o.state != tcpInactive {
			return false
		}
		connOrig = r
	}
	if !(o.didClose || r.didClose) {
		if d.Seq == connOrig.startSeq {
			return false
		}
		if d.TCPFlags&tcpACK == 0 && connOrig.state == tcpSynAckSent && r.state == tcpInactive && d.Seq == r.startSeq {
			return false
		}
	}
	return true
}

func (f *flow) addHistory(dir int, c byte) {
	if dir == 1 {
		c += 'a' - 'A'
	}
	f.history = append(f.history, c)
}

// checkHistory records letter c the first time the event happens in a
// direction; it reports whether the event had been seen before.
func (f *flow) checkHistory(dir int, mask uint16, c byte) bool {
	ep := &f.tcp.ep[dir]
	if ep.histSeen&mask == 0 {
		ep.histSeen |= mask
		f.addHistory(dir, c)
		return false
	}
	return true
}

// scaledHistory records c at the 1st, 10th, 100th ... occurrence.
func (f *flow) scaledHistory(dir int, count uint32, threshold *uint32, c byte) {
	if *threshold == 0 {
		*threshold = 1
	}
	if count == *threshold {
		f.addHistory(dir, c)
		*threshold *= 10
	}
}

// tcpPacket runs one segment through the state machine. dir is 0 for the
// originator; the returned direction differs when the segment revealed
// that the roles were reversed.
func (t *FlowTable) tcpPacket(f *flow, d *Decoded, dir int) int {
	flags := d.TCPFlags
	syn, fin, rst, ack := flags&tcpSYN != 0, flags&tcpFIN != 0, flags&tcpRST != 0, flags&tcpACK != 0
	length := d.PayloadLength
	ep, peer := &f.tcp.ep[dir], &f.tcp.ep[1-dir]

	segLen := length
	if syn {
		segLen++
	}
	if fin {
		segLen++
	}
	if rst {
		segLen -= length
	}
	seqEnd := d.Seq + uint32(segLen)

	// init_endpoint
	switch ep.state {
	case tcpInactive:
		if syn {
			ep.startSeq, ep.lastSeq = d.Seq, seqEnd
		} else {
			ep.startSeq, ep.lastSeq = d.Seq-1, d.Seq
		}
	case tcpSynSent, tcpSynAckSent:
		if syn && d.Seq != ep.startSeq {
			ep.startSeq, ep.lastSeq = d.Seq, seqEnd
		}
	case tcpEstablished, tcpPartial:
		if syn {
			ep.startSeq, ep.lastSeq = d.Seq, seqEnd
		}
	case tcpReset:
		if syn && ep.prevState == tcpInactive {
			ep.startSeq, ep.lastSeq = d.Seq, seqEnd
		}
	}
	rel := d.Seq - ep.startSeq

	// update_history
	bits := 0
	for _, b := range [3]bool{syn, fin, rst} {
		if b {
			bits++
		}
	}
	switch {
	case bits > 1:
		if fin && rst {
			f.checkHistory(dir, histFinRst, 'I')
		} else {
			f.checkHistory(dir, histMulti, 'Q')
		}
	case bits == 1:
		if syn {
			code := byte('S')
			if ack {
				code = 'H'
			}
			if f.checkHistory(dir, histSyn, code) && rel != ep.lastSYN {
				f.addHistory(dir, code)
			}
			ep.lastSYN = rel
		}
		if fin {
			if f.checkHistory(dir, histFin, 'F') && rel+uint32(length) != ep.lastFIN {
				f.addHistory(dir, 'F')
			}
			ep.lastFIN = rel + uint32(length)
		}
		if rst {
			if f.checkHistory(dir, histRst, 'R') && rel != ep.lastRST {
				f.addHistory(dir, 'R')
			}
			ep.lastRST = rel
		}
	default:
		if length > 0 {
			f.checkHistory(dir, histData, 'D')
		} else if ack {
			f.checkHistory(dir, histAck, 'A')
		}
	}

	// update_window: zero windows.
	if d.Window == 0 && !rst && peer.state != tcpClosed && ep.state != tcpReset {
		ep.zeroWin++
		f.scaledHistory(dir, ep.zeroWin, &ep.zwNext, 'W')
	}

	// update_last_seq
	delta := seqDelta(seqEnd, ep.lastSeq)
	switch {
	case (syn || rst) && (delta > tooLargeSeqDelta || delta < -tooLargeSeqDelta):
	case fin && ep.lastSeq == ep.startSeq+1:
		ep.lastSeq = seqEnd
	case ep.state == tcpReset:
	case delta > 0:
		ep.lastSeq = seqEnd
	case length > 0:
		ep.rxmit++
		f.scaledHistory(dir, ep.rxmit, &ep.rxmitNext, 'T')
	}

	// UpdateStateMachine
	isOrig := dir == 0
	doClose := false
	switch ep.state {
	case tcpInactive:
		if syn {
			if isOrig {
				if ack {
					ep.setState(tcpSynAckSent)
				} else {
					ep.setState(tcpSynSent)
				}
			} else {
				if !ack && peer.state == tcpSynAckSent && d.Seq == ep.startSeq {
					// A SYN after the SYN-ACK it caused: the roles were
					// reversed. Flip and establish.
					f.flipRoles()
					dir = 1 - dir
					isOrig = true
					ep, peer = &f.tcp.ep[dir], &f.tcp.ep[1-dir]
					peer.setState(tcpEstablished)
				}
				if peer.state == tcpSynSent {
					peer.setState(tcpEstablished)
				}
				ep.setState(tcpEstablished)
			}
		}
		if fin {
			ep.setState(tcpClosed)
			doClose = true
		}
		if rst {
			ep.setState(tcpReset)
			doClose = true
		}
		if ep.state == tcpInactive {
			switch {
			case !isOrig && length == 0 && f.tcp.ep[0].state == tcpSynSent:
				// An ACK of the SYN before the SYN-ACK: not a partial flow.
			case ack && peer.state == tcpEstablished:
				ep.setState(tcpEstablished)
			default:
				ep.setState(tcpPartial)
			}
		}
	case tcpSynSent, tcpSynAckSent:
		if fin {
			ep.setState(tcpClosed)
			doClose = true
		}
		if rst {
			ep.setState(tcpReset)
			doClose = true
		}
	case tcpEstablished, tcpPartial:
		if syn && ep.state == tcpPartial && peer.state == tcpInactive && !ack {
			ep.setState(tcpSynSent)
		}
		if fin && !rst {
			ep.setState(tcpClosed)
			if peer.state == tcpReset && peer.prevState == tcpClosed {
				peer.setState(tcpClosed)
			}
			doClose = true
		}
		if rst {
			ep.setState(tcpReset)
			doClose = true
		}
	case tcpClosed:
		if rst && peer.state != tcpClosed {
			ep.setState(tcpReset)
			if !ep.didClose {
				doClose = true
			}
		}
	case tcpReset:
	}

	if doClose && !ep.didClose {
		ep.didClose = true
		if ep.state == tcpReset || peer.didClose || peer.state == tcpInactive {
			f.tcp.closeComplete = true
		}
	}
	return dir
}
