package synth_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/vigil-health/vigil/internal/synth"
)

// pcapBytes generates the scenario for opts and returns it with its pcap.
func pcapBytes(t *testing.T, opts synth.Options) (*synth.Scenario, []byte) {
	t.Helper()
	s := synth.Ward(opts)
	var b bytes.Buffer
	if err := s.WritePCAP(&b); err != nil {
		t.Fatalf("WritePCAP: %v", err)
	}
	return s, b.Bytes()
}

func TestDeterministic(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts synth.Options
	}{
		{"default", synth.DefaultOptions()},
		{"zero options", synth.Options{}},
		{"untagged", synth.Options{Untagged: true}},
		{"seed 42 short", synth.Options{Seed: 42, Learning: 5 * time.Minute, Detection: 3 * time.Minute}},
		{"no anomalies", synth.Options{NoAnomalies: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, a := pcapBytes(t, tc.opts)
			_, b := pcapBytes(t, tc.opts)
			if sha256.Sum256(a) != sha256.Sum256(b) {
				t.Fatal("two generations with the same options differ")
			}
		})
	}

	_, def := pcapBytes(t, synth.DefaultOptions())
	_, zero := pcapBytes(t, synth.Options{})
	if !bytes.Equal(def, zero) {
		t.Error("Ward(Options{}) differs from Ward(DefaultOptions())")
	}
	opts := synth.DefaultOptions()
	opts.Seed = 7
	if _, other := pcapBytes(t, opts); bytes.Equal(def, other) {
		t.Error("another seed gives the same capture")
	}
}

func TestWritePCAPFile(t *testing.T) {
	s, want := pcapBytes(t, synth.DefaultOptions())
	path := filepath.Join(t.TempDir(), "ward.pcap")
	if err := s.WritePCAPFile(path); err != nil {
		t.Fatalf("WritePCAPFile: %v", err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("file differs from WritePCAP output")
	}
	if err := s.WritePCAPFile(filepath.Join(t.TempDir(), "missing", "x.pcap")); err == nil {
		t.Error("WritePCAPFile into a missing directory: no error")
	}
}

// frame is one decoded packet of the capture.
type frame struct {
	ts  time.Time
	pkt gopacket.Packet
	eth *layers.Ethernet
	ip  *layers.IPv4
	tcp *layers.TCP
	udp *layers.UDP
}

// readCapture reads a pcap back and decodes every frame, failing on any
// frame gopacket cannot decode.
func readCapture(t *testing.T, data []byte) []frame {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("pcap reader: %v", err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("link type %v, want Ethernet", r.LinkType())
	}
	var out []frame
	for i := 0; ; i++ {
		b, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if ci.CaptureLength != ci.Length {
			t.Errorf("packet %d truncated: %d of %d bytes", i, ci.CaptureLength, ci.Length)
		}
		p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("packet %d does not decode: %v", i, el.Error())
		}
		f := frame{ts: ci.Timestamp, pkt: p}
		f.eth, _ = p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		f.ip, _ = p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		f.tcp, _ = p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		f.udp, _ = p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if f.eth == nil || f.ip == nil || (f.tcp == nil && f.udp == nil) {
			t.Fatalf("packet %d: want Ethernet/IPv4/TCP or UDP, got %v", i, p.Layers())
		}
		out = append(out, f)
	}
	return out
}

// checksum returns the Internet checksum of seg under the IPv4
// pseudo-header of ip: 0 when seg carries a correct checksum.
func checksum(ip *layers.IPv4, seg []byte) uint16 {
	pseudo := append(slices.Clone(ip.SrcIP.To4()), ip.DstIP.To4()...)
	pseudo = append(pseudo, 0, byte(ip.Protocol))
	pseudo = binary.BigEndian.AppendUint16(pseudo, uint16(len(seg)))
	return ^foldOnes(append(pseudo, seg...))
}

func TestCaptureDecodes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		untagged bool
	}{{"tagged", false}, {"untagged", true}} {
		t.Run(tc.name, func(t *testing.T) { checkCapture(t, tc.untagged) })
	}
}

// checkCapture decodes the default capture, tagged or not, and checks
// its size, order, VLAN tags and checksums.
func checkCapture(t *testing.T, untagged bool) {
	opts := synth.DefaultOptions()
	opts.Untagged = untagged
	s, data := pcapBytes(t, opts)
	if len(data) > 2<<20 {
		t.Errorf("capture is %d bytes, want < 2 MiB", len(data))
	}
	frames := readCapture(t, data)
	if len(frames) != len(s.Packets) || len(frames) > 5000 || len(frames) < 1000 {
		t.Errorf("%d frames read, %d generated; want 1000-5000", len(frames), len(s.Packets))
	}
	var last time.Time
	for i, f := range frames {
		if f.ts.Before(s.Options.Start) || !f.ts.Before(s.End()) {
			t.Errorf("packet %d at %v outside [%v, %v)", i, f.ts, s.Options.Start, s.End())
		}
		if f.ts.Before(last) {
			t.Errorf("packet %d at %v before its predecessor at %v", i, f.ts, last)
		}
		last = f.ts
		dot1q, _ := f.pkt.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
		switch {
		case untagged && dot1q != nil:
			t.Fatalf("packet %d tagged in an untagged capture", i)
		case !untagged && (dot1q == nil || dot1q.VLANIdentifier != 20):
			t.Fatalf("packet %d: want VLAN 20 tag, got %+v", i, dot1q)
		}
		hdr := slices.Clone(f.ip.Contents)
		hdr[10], hdr[11] = 0, 0
		if got := ^foldOnes(hdr); got != f.ip.Checksum {
			t.Errorf("packet %d: IPv4 checksum %#04x, want %#04x", i, f.ip.Checksum, got)
		}
		if f.tcp != nil {
			if c := checksum(f.ip, append(slices.Clone(f.tcp.Contents), f.tcp.Payload...)); c != 0 {
				t.Errorf("packet %d: bad TCP checksum", i)
			}
		}
		if f.udp != nil {
			if c := checksum(f.ip, append(slices.Clone(f.udp.Contents), f.udp.Payload...)); c != 0 {
				t.Errorf("packet %d: bad UDP checksum", i)
			}
		}
	}
}

// foldOnes returns the folded one's complement sum of b, an odd last
// byte padded with zero.
func foldOnes(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// conn is one TCP connection reassembled from the capture.
type conn struct {
	cli, srv       netip.AddrPort
	next           [2]uint32 // next expected sequence number, by direction
	seen           [2]bool   // a SYN was seen from that direction
	data           [2][]byte // 0: client to server
	syns, fins     [2]int
	rst            bool
	handshakeAcked bool
}

func addrPort(ip []byte, port uint16) netip.AddrPort {
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a.Unmap(), port)
}

// reassemble follows every TCP connection, checking that each segment's
// sequence number continues its direction's stream and that each ACK
// acknowledges everything the peer has sent, and returns the connections
// in the order they opened.
func reassemble(t *testing.T, frames []frame) []*conn {
	t.Helper()
	type key struct{ a, b netip.AddrPort }
	open := map[key]*conn{}
	var all []*conn
	for i, f := range frames {
		if f.tcp == nil {
			continue
		}
		src := addrPort(f.ip.SrcIP, uint16(f.tcp.SrcPort))
		dst := addrPort(f.ip.DstIP, uint16(f.tcp.DstPort))
		c := open[key{src, dst}]
		if c == nil {
			c = open[key{dst, src}]
		}
		if f.tcp.SYN && !f.tcp.ACK {
			c = &conn{cli: src, srv: dst}
			open[key{src, dst}] = c
			delete(open, key{dst, src})
			all = append(all, c)
		}
		if c == nil {
			t.Fatalf("packet %d: segment %v -> %v of no connection", i, src, dst)
		}
		dir, other := 0, 1
		if src == c.srv {
			dir, other = 1, 0
		}
		tcp := f.tcp
		switch {
		case tcp.SYN:
			c.seen[dir] = true
			c.next[dir] = tcp.Seq
			c.syns[dir]++
		case !c.seen[dir] && tcp.RST:
			// A closed port's RST+ACK: no sequence space of its own.
		case tcp.Seq != c.next[dir]:
			t.Errorf("packet %d %v->%v: seq %d, want %d", i, src, dst, tcp.Seq, c.next[dir])
		}
		if tcp.ACK {
			if !c.seen[other] && !tcp.RST {
				t.Errorf("packet %d: ACK before the peer's SYN", i)
			} else if tcp.Ack != c.next[other] {
				t.Errorf("packet %d %v->%v: ack %d, want %d", i, src, dst, tcp.Ack, c.next[other])
			}
			if dir == 0 && c.syns[1] > 0 {
				c.handshakeAcked = true
			}
		}
		c.data[dir] = append(c.data[dir], tcp.Payload...)
		c.next[dir] += uint32(len(tcp.Payload))
		if tcp.SYN {
			c.next[dir]++
		}
		if tcp.FIN {
			c.next[dir]++
			c.fins[dir]++
		}
		if tcp.RST {
			c.rst = true
		}
		if len(tcp.Payload) > 0 && !c.handshakeAcked {
			t.Errorf("packet %d: data before the three-way handshake completed", i)
		}
	}
	return all
}

func TestTCPConnections(t *testing.T) {
	_, data := pcapBytes(t, synth.DefaultOptions())
	conns := reassemble(t, readCapture(t, data))
	var complete, resets int
	for _, c := range conns {
		if c.rst {
			resets++
			continue
		}
		if c.syns != [2]int{1, 1} || c.fins != [2]int{1, 1} || !c.handshakeAcked {
			t.Errorf("%v -> %v: syns %v fins %v: want a full handshake and teardown", c.cli, c.srv, c.syns, c.fins)
		}
		complete++
	}
	// Only the scan resets connections: 100 probes.
	if resets != 100 {
		t.Errorf("%d reset connections, want the 100 scan probes", resets)
	}
	if complete < 100 {
		t.Errorf("only %d complete connections", complete)
	}
}

func TestDICOM(t *testing.T) {
	s, data := pcapBytes(t, synth.DefaultOptions())
	ct, _ := s.Device("ct-scanner-1")
	var assocs, stores int
	for _, c := range reassemble(t, readCapture(t, data)) {
		if c.srv.Port() != 104 || c.rst {
			continue
		}
		if c.cli.Addr() != ct.IP {
			t.Errorf("DICOM association from %v, want the CT", c.cli)
		}
		assocs++
		rq := splitPDUs(t, c.data[0])
		ac := splitPDUs(t, c.data[1])
		if got, want := pduTypes(rq), pduTypes(ac); got[0] != 0x01 || got[len(got)-1] != 0x05 || want[0] != 0x02 || want[len(want)-1] != 0x06 {
			t.Fatalf("PDU types: requestor %x, acceptor %x", got, want)
		}
		checkAssociate(t, rq[0], "PACS_MAIN", "CT_SCANNER1")
		checkAssociate(t, ac[0], "PACS_MAIN", "CT_SCANNER1")
		for _, pdu := range append(rq[1:len(rq)-1], ac[1:len(ac)-1]...) {
			if pdu[0] != 0x04 {
				t.Fatalf("PDU type %#x inside the association, want P-DATA-TF", pdu[0])
			}
			for _, pdv := range splitPDVs(t, pdu[6:]) {
				ctl, value := pdv[1], pdv[2:]
				if ctl&0x02 == 0 {
					t.Error("PDV not marked last fragment")
				}
				els := parseImplicit(t, value)
				if ctl&0x01 != 0 {
					if gl := els[0]; gl.tag != 0x00000000 || int(binary.LittleEndian.Uint32(gl.value)) != len(value)-12 {
						t.Errorf("command group length %v does not match %d bytes", gl, len(value)-12)
					}
					if cmd := binary.LittleEndian.Uint16(find(els, 0x00000100)); cmd == 0x0001 {
						stores++
					}
					continue
				}
				if got := strings.TrimSpace(string(find(els, 0x00080060))); got != "CT" {
					t.Errorf("Modality %q, want CT", got)
				}
				for _, tag := range []uint32{0x00080070, 0x00081090, 0x00181000, 0x00181020, 0x00081010} {
					if len(find(els, tag)) == 0 {
						t.Errorf("dataset lacks equipment attribute %08x", tag)
					}
				}
				if got := strings.TrimSpace(string(find(els, 0x00100010))); got != synth.SyntheticPatientName {
					t.Errorf("Patient Name %q, want the synthetic one", got)
				}
			}
		}
	}
	if assocs < 5 || stores < assocs {
		t.Errorf("%d associations with %d C-STOREs, want several", assocs, stores)
	}
}

// splitPDUs splits a DICOM Upper Layer stream into PDUs (type, reserved,
// 32-bit length), failing unless their lengths account for every byte.
func splitPDUs(t *testing.T, b []byte) [][]byte {
	t.Helper()
	return splitTLV(t, b, 6, "PDU")
}

// splitItems splits variable items (type, reserved, 16-bit length).
func splitItems(t *testing.T, b []byte) [][]byte {
	t.Helper()
	return splitTLV(t, b, 4, "item")
}

// splitTLV splits b into units of a type byte, a reserved byte and a
// big-endian length filling the rest of a hdr-byte header, failing unless
// the lengths account for every byte.
func splitTLV(t *testing.T, b []byte, hdr int, what string) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		if len(b) < hdr {
			t.Fatalf("%d trailing bytes, shorter than a %s header", len(b), what)
		}
		n := 0
		for _, c := range b[2:hdr] {
			n = n<<8 | int(c)
		}
		n += hdr
		if n > len(b) {
			t.Fatalf("%s %#x says %d bytes, %d left", what, b[0], n, len(b))
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

func pduTypes(pdus [][]byte) []byte {
	var out []byte
	for _, p := range pdus {
		out = append(out, p[0])
	}
	return out
}

// checkAssociate checks an A-ASSOCIATE-RQ or -AC: fixed fields, and items
// whose lengths add up exactly.
func checkAssociate(t *testing.T, pdu []byte, called, calling string) {
	t.Helper()
	if len(pdu) < 74 || binary.BigEndian.Uint16(pdu[6:]) != 1 {
		t.Fatalf("A-ASSOCIATE: short or protocol version not 1: % x", pdu[:min(len(pdu), 12)])
	}
	if got := string(pdu[10:26]); got != pad16(called) {
		t.Errorf("called AE %q", got)
	}
	if got := string(pdu[26:42]); got != pad16(calling) {
		t.Errorf("calling AE %q", got)
	}
	items := splitItems(t, pdu[74:])
	var types []byte
	for _, it := range items {
		types = append(types, it[0])
	}
	wantPC := byte(0x20)
	if pdu[0] == 0x02 {
		wantPC = 0x21
	}
	if !slices.Equal(types, []byte{0x10, wantPC, wantPC, 0x50}) {
		t.Errorf("item types % x", types)
	}
	if got := string(items[0][4:]); got != "1.2.840.10008.3.1.1.1" {
		t.Errorf("application context %q", got)
	}
	var abstract []string
	for _, pc := range items[1:3] {
		for _, sub := range splitItems(t, pc[8:]) {
			switch sub[0] {
			case 0x30:
				abstract = append(abstract, string(sub[4:]))
			case 0x40:
				if string(sub[4:]) != "1.2.840.10008.1.2" {
					t.Errorf("transfer syntax %q", sub[4:])
				}
			default:
				t.Errorf("presentation context sub-item %#x", sub[0])
			}
		}
	}
	if pdu[0] == 0x01 && !slices.Equal(abstract, []string{"1.2.840.10008.1.1", "1.2.840.10008.5.1.4.1.1.2"}) {
		t.Errorf("abstract syntaxes %q", abstract)
	}
	var user []byte
	for _, sub := range splitItems(t, items[3][4:]) {
		user = append(user, sub[0])
	}
	if !slices.Equal(user, []byte{0x51, 0x52, 0x55}) {
		t.Errorf("user information sub-items % x", user)
	}
}

func pad16(s string) string { return s + strings.Repeat(" ", 16-len(s)) }

// splitPDVs splits the presentation data values of a P-DATA-TF body,
// returning each as context ID, control header and value.
func splitPDVs(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		n := int(binary.BigEndian.Uint32(b))
		if n < 2 || 4+n > len(b) {
			t.Fatalf("PDV length %d, %d bytes left", n, len(b))
		}
		out = append(out, b[4:4+n])
		b = b[4+n:]
	}
	return out
}

type dcmElement struct {
	tag   uint32
	value []byte
}

// parseImplicit parses Implicit VR Little Endian elements, failing unless
// they fill b exactly and come in ascending tag order with even lengths.
func parseImplicit(t *testing.T, b []byte) []dcmElement {
	t.Helper()
	var out []dcmElement
	for len(b) > 0 {
		if len(b) < 8 {
			t.Fatalf("%d trailing element bytes", len(b))
		}
		tag := uint32(binary.LittleEndian.Uint16(b))<<16 | uint32(binary.LittleEndian.Uint16(b[2:]))
		n := int(binary.LittleEndian.Uint32(b[4:]))
		if n%2 != 0 || 8+n > len(b) {
			t.Fatalf("element %08x length %d, %d bytes left", tag, n, len(b))
		}
		if len(out) > 0 && tag <= out[len(out)-1].tag {
			t.Fatalf("element %08x out of order", tag)
		}
		out = append(out, dcmElement{tag, b[8 : 8+n]})
		b = b[8+n:]
	}
	return out
}

func find(els []dcmElement, tag uint32) []byte {
	for _, e := range els {
		if e.tag == tag {
			return e.value
		}
	}
	return nil
}

func TestHL7(t *testing.T) {
	_, data := pcapBytes(t, synth.DefaultOptions())
	types := map[string]int{}
	for _, c := range reassemble(t, readCapture(t, data)) {
		if c.srv.Port() != 2575 {
			continue
		}
		msg := unframe(t, c.data[0])
		ack := unframe(t, c.data[1])
		msh := strings.Split(strings.Split(msg, "\r")[0], "|")
		if len(msh) < 12 || msh[0] != "MSH" || msh[1] != `^~\&` || msh[11] != "2.5" {
			t.Fatalf("MSH %q", msh)
		}
		types[msh[8]]++
		if !strings.Contains(msg, "\rPID|1||") || !strings.Contains(msg, "|"+synth.SyntheticPatientName+"|") {
			t.Errorf("message without the synthetic PID: %q", msg)
		}
		segs := strings.Split(strings.TrimSuffix(ack, "\r"), "\r")
		if len(segs) != 2 || segs[1] != "MSA|AA|"+msh[9] {
			t.Errorf("ACK %q does not accept control id %q", ack, msh[9])
		}
	}
	if types["ORU^R01^ORU_R01"] < 10 || types["ADT^A01^ADT_A01"] < 2 {
		t.Errorf("HL7 message types %v, want many ORU^R01 and some ADT^A01", types)
	}
}

// unframe checks one MLLP frame and returns the message inside.
func unframe(t *testing.T, b []byte) string {
	t.Helper()
	if len(b) < 3 || b[0] != 0x0b || b[len(b)-2] != 0x1c || b[len(b)-1] != 0x0d {
		t.Fatalf("not one MLLP frame: % x", b[:min(len(b), 16)])
	}
	m := b[1 : len(b)-2]
	if bytes.ContainsAny(m, "\x0b\x1c") {
		t.Fatal("MLLP frame holds framing bytes")
	}
	return string(m)
}

func TestDHCPAndDNS(t *testing.T) {
	s, data := pcapBytes(t, synth.DefaultOptions())
	acked := map[string]netip.Addr{}
	var dnsAnswers int
	for _, f := range readCapture(t, data) {
		if d, ok := f.pkt.Layer(layers.LayerTypeDHCPv4).(*layers.DHCPv4); ok {
			opts := map[layers.DHCPOpt][]byte{}
			for _, o := range d.Options {
				opts[o.Type] = o.Data
			}
			if len(opts[layers.DHCPOptMessageType]) != 1 {
				t.Fatalf("DHCP without message type")
			}
			switch layers.DHCPMsgType(opts[layers.DHCPOptMessageType][0]) {
			case layers.DHCPMsgTypeDiscover, layers.DHCPMsgTypeRequest:
				for _, o := range []layers.DHCPOpt{layers.DHCPOptHostname, layers.DHCPOptClassID, layers.DHCPOptClientID, layers.DHCPOptParamsRequest, layers.DHCPOptRequestIP} {
					if len(opts[o]) == 0 {
						t.Errorf("DHCP request from %v lacks option %v", d.ClientHWAddr, o)
					}
				}
			case layers.DHCPMsgTypeAck:
				for _, o := range []layers.DHCPOpt{layers.DHCPOptServerID, layers.DHCPOptLeaseTime} {
					if len(opts[o]) == 0 {
						t.Errorf("DHCP ACK lacks option %v", o)
					}
				}
				a, _ := netip.AddrFromSlice(d.YourClientIP.To4())
				acked[d.ClientHWAddr.String()] = a
			}
		}
		if d, ok := f.pkt.Layer(layers.LayerTypeDNS).(*layers.DNS); ok && d.QR && len(d.Answers) == 1 {
			dnsAnswers++
		}
	}
	for _, d := range s.Devices {
		if got, ok := acked[d.MAC.String()]; d.DHCP && (!ok || got != d.IP) {
			t.Errorf("%s: DHCP ACK gives %v, want %v", d.Name, got, d.IP)
		} else if !d.DHCP && ok {
			t.Errorf("%s has a static address but gets a DHCP ACK", d.Name)
		}
	}
	if dnsAnswers < 5 {
		t.Errorf("%d DNS answers, want several", dnsAnswers)
	}
}

func TestGroundTruth(t *testing.T) {
	s, data := pcapBytes(t, synth.DefaultOptions())
	seen := map[string]bool{} // "mac ip" pairs of senders
	for _, f := range readCapture(t, data) {
		seen[f.eth.SrcMAC.String()+" "+f.ip.SrcIP.String()] = true
	}
	macs, ips := map[string]bool{}, map[netip.Addr]bool{}
	ward := netip.MustParsePrefix("10.20.0.0/24")
	for _, d := range s.Devices {
		if !seen[d.MAC.String()+" "+d.IP.String()] {
			t.Errorf("%s (%v, %v) never sends a packet", d.Name, d.MAC, d.IP)
		}
		if macs[d.MAC.String()] || ips[d.IP] {
			t.Errorf("%s: MAC or IP not unique", d.Name)
		}
		macs[d.MAC.String()], ips[d.IP] = true, true
		if !ward.Contains(d.IP) || d.VLAN != 20 || d.Name == "" || d.Role == "" || d.Vendor == "" {
			t.Errorf("%s: incomplete or off-ward ground truth %+v", d.Name, d)
		}
	}
	if len(s.Devices) < 10 {
		t.Errorf("%d devices", len(s.Devices))
	}

	// The medical devices' OUIs are the shared fingerprint data's.
	f, err := os.Open(filepath.Join("..", "..", "..", "shared", "integrations", "fingerprints", "medical-vendor-ouis.tsv"))
	if err != nil {
		t.Skipf("medical OUI list not available: %v", err)
	}
	defer f.Close()
	orgs := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) >= 4 && cols[1] == "MA-L" {
			orgs[cols[2]] = cols[3]
		}
	}
	for _, d := range s.Devices {
		if !d.Medical {
			continue
		}
		oui := strings.ToUpper(strings.ReplaceAll(d.MAC.String()[:8], ":", ""))
		if got := orgs[oui]; got != d.Vendor {
			t.Errorf("%s: OUI %s is %q in the medical list, ground truth says %q", d.Name, oui, got, d.Vendor)
		}
	}
}

func TestAnomalies(t *testing.T) {
	s, data := pcapBytes(t, synth.DefaultOptions())
	frames := readCapture(t, data)
	router, _ := s.Device("ward-gw")
	var kinds []string
	for _, a := range s.Anomalies {
		kinds = append(kinds, a.Kind)
		dev, ok := s.Device(a.Device)
		if !ok {
			t.Fatalf("%s: unknown device %q", a.Kind, a.Device)
		}
		if a.Start.Before(s.LearningEnd()) || a.End.Before(a.Start) || !a.End.Before(s.End()) {
			t.Errorf("%s: [%v, %v] not inside the detection phase [%v, %v)", a.Kind, a.Start, a.End, s.LearningEnd(), s.End())
		}
		if a.PeerDevice != "" {
			if p, ok := s.Device(a.PeerDevice); !ok || p.IP != a.Peer {
				t.Errorf("%s: peer device %q is not %v", a.Kind, a.PeerDevice, a.Peer)
			}
		}
		var n int
		ports := map[uint16]bool{}
		for _, f := range frames {
			src, _ := netip.AddrFromSlice(f.ip.SrcIP)
			dst, _ := netip.AddrFromSlice(f.ip.DstIP)
			if !(src == dev.IP && dst == a.Peer) && !(src == a.Peer && dst == dev.IP) {
				continue
			}
			n++
			if f.ts.Before(a.Start) || f.ts.After(a.End) {
				t.Errorf("%s: packet between %v and %v at %v, outside the anomaly", a.Kind, dev.IP, a.Peer, f.ts)
			}
			if f.tcp != nil && src == dev.IP {
				ports[uint16(f.tcp.DstPort)] = true
			}
			if a.Kind == synth.KindInternet {
				if want := router.MAC.String(); (src == dev.IP && f.eth.DstMAC.String() != want) || (src == a.Peer && f.eth.SrcMAC.String() != want) {
					t.Errorf("internet packet not through the router's MAC: %v -> %v", f.eth.SrcMAC, f.eth.DstMAC)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no packet between %v and %v", a.Kind, dev.IP, a.Peer)
		}
		if got := slices.Sorted(maps.Keys(ports)); !slices.Equal(got, a.Ports) {
			t.Errorf("%s: ports %v in the capture, ground truth %v", a.Kind, got, a.Ports)
		}
		if a.Kind == synth.KindScan && (len(a.Ports) < 100 || a.End.Sub(a.Start) > 10*time.Second) {
			t.Errorf("scan: %d ports in %v, want 100 within seconds", len(a.Ports), a.End.Sub(a.Start))
		}
	}
	if !slices.Equal(kinds, []string{synth.KindInternet, synth.KindScan, synth.KindNewPeer}) {
		t.Errorf("anomaly kinds %v", kinds)
	}

	clean := synth.Options{NoAnomalies: true}
	cs, cdata := pcapBytes(t, clean)
	if len(cs.Anomalies) != 0 {
		t.Errorf("NoAnomalies: %d anomalies", len(cs.Anomalies))
	}
	internet := netip.MustParsePrefix("203.0.113.0/24")
	for _, f := range readCapture(t, cdata) {
		if dst, _ := netip.AddrFromSlice(f.ip.DstIP); internet.Contains(dst) {
			t.Fatalf("NoAnomalies capture reaches the internet at %v", f.ts)
		}
	}
}

func TestShortScenario(t *testing.T) {
	// Durations under a minute are raised to one; everything must still
	// fit in the capture, anomalies in the detection phase.
	s, data := pcapBytes(t, synth.Options{Seed: 3, Learning: time.Second, Detection: time.Second})
	if s.Options.Learning != time.Minute || s.Options.Detection != time.Minute {
		t.Fatalf("durations %v and %v, want one minute each", s.Options.Learning, s.Options.Detection)
	}
	for i, f := range readCapture(t, data) {
		if f.ts.Before(s.Options.Start) || !f.ts.Before(s.End()) {
			t.Errorf("packet %d at %v outside [%v, %v)", i, f.ts, s.Options.Start, s.End())
		}
	}
	if len(s.Anomalies) != 3 {
		t.Fatalf("%d anomalies, want 3", len(s.Anomalies))
	}
	for _, a := range s.Anomalies {
		if a.Start.Before(s.LearningEnd()) || !a.End.Before(s.End()) {
			t.Errorf("%s: [%v, %v] outside the detection phase", a.Kind, a.Start, a.End)
		}
	}
}

func BenchmarkWard(b *testing.B) {
	opts := synth.DefaultOptions()
	for b.Loop() {
		s := synth.Ward(opts)
		if err := s.WritePCAP(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
