//go:build linux

package capture

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// SourceKindAFPacket is the kind of live Linux sources: an AF_PACKET
// socket with a TPACKET_V3 memory-mapped ring, read without copying and
// without libpcap.
const SourceKindAFPacket = "afpacket"

func init() { liveSources = append(liveSources, SourceKindAFPacket) }

func openLive(iface string, bufferBytes int, fanout uint16, filter []bpf.RawInstruction, poll time.Duration) (LiveSource, error) {
	return OpenAFPacket(iface, bufferBytes, fanout, filter, poll)
}

// ringBlockSize is the size of one TPACKET_V3 block: frames are packed
// into blocks, handed to user space a block at a time.
const ringBlockSize = 1 << 20

// AFPacketSource reads one interface through an AF_PACKET ring. With a
// fanout group, several sources on the same interface share its packets,
// each flow always going to the same source.
type AFPacketSource struct {
	iface string
	tp    *afpacket.TPacket
	n     uint64
	// received and dropped are the kernel's counters for the socket.
	received, dropped atomic.Uint64
	lastStats         time.Time
}

var _ LiveSource = (*AFPacketSource)(nil)

// OpenAFPacket opens a ring of bufferBytes on iface. fanout > 0 joins the
// hash fanout group of that ID (flows are hashed symmetrically, with IP
// fragments kept together); filter is attached to the socket.
func OpenAFPacket(iface string, bufferBytes int, fanout uint16, filter []bpf.RawInstruction, poll time.Duration) (*AFPacketSource, error) {
	if _, err := net.InterfaceByName(iface); err != nil {
		return nil, fmt.Errorf("afpacket %s: %w", iface, err)
	}
	blocks := max(bufferBytes/ringBlockSize, 2)
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(iface),
		afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
		afpacket.OptFrameSize(1<<16),
		afpacket.OptBlockSize(ringBlockSize),
		afpacket.OptNumBlocks(blocks),
		afpacket.OptBlockTimeout(10*time.Millisecond),
		afpacket.OptPollTimeout(poll),
		afpacket.SocketRaw,
	)
	if err != nil {
		return nil, fmt.Errorf("afpacket %s: %w (live capture needs root or CAP_NET_RAW)", iface, err)
	}
	s := &AFPacketSource{iface: iface, tp: tp}
	if len(filter) > 0 {
		if err := tp.SetBPF(filter); err != nil {
			tp.Close()
			return nil, fmt.Errorf("afpacket %s: attach filter: %w", iface, err)
		}
	}
	if fanout > 0 {
		if err := tp.SetFanout(afpacket.FanoutHashWithDefrag, fanout); err != nil {
			tp.Close()
			return nil, fmt.Errorf("afpacket %s: fanout group %d: %w", iface, fanout, err)
		}
	}
	if err := tp.InitSocketStats(); err != nil {
		tp.Close()
		return nil, fmt.Errorf("afpacket %s: statistics: %w", iface, err)
	}
	return s, nil
}

// Name implements Source.
func (s *AFPacketSource) Name() string { return s.iface }

// Next implements Source. It returns ErrIdle when no packet came within
// the poll timeout, so the caller can run its timers on a silent port.
func (s *AFPacketSource) Next(p *Packet) error {
	data, ci, err := s.tp.ZeroCopyReadPacketData()
	if err != nil {
		if errors.Is(err, afpacket.ErrTimeout) {
			s.refreshStats()
			return ErrIdle
		}
		return fmt.Errorf("afpacket %s: %w", s.iface, err)
	}
	s.n++
	*p = Packet{Data: data, Info: ci, LinkType: layers.LinkTypeEthernet, Origin: s.iface, Number: s.n}
	for _, a := range ci.AncillaryData {
		if v, ok := a.(afpacket.AncillaryVLAN); ok {
			// The NIC stripped the tag; the kernel tells it out of band.
			p.VLAN = uint16(v.VLAN) & 0x0fff
		}
	}
	if s.n%4096 == 0 {
		s.refreshStats()
	}
	return nil
}

func (s *AFPacketSource) refreshStats() {
	_, v3, err := s.tp.SocketStats()
	if err != nil {
		return
	}
	s.received.Store(uint64(v3.Packets()))
	s.dropped.Store(uint64(v3.Drops()))
}

// KernelStats implements LiveSource.
func (s *AFPacketSource) KernelStats() (received, dropped uint64) {
	return s.received.Load(), s.dropped.Load()
}

// Close implements Source.
func (s *AFPacketSource) Close() error {
	s.tp.Close()
	return nil
}
