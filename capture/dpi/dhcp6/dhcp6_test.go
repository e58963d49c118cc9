package dhcp6

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
)

// facts summarises observations as sorted, distinct "mac attr=value"
// lines.
func facts(t testing.TB, obs []events.Observation) []string {
	t.Helper()
	for _, o := range obs {
		if o.Device != events.DeviceKey(o.MAC, "", o.VLAN) || o.Protocol != Protocol || len(o.Value) > dpi.MaxValue {
			t.Errorf("bad observation %+v", o)
		}
	}
	return dpitest.Summary(obs, func(o events.Observation) string { return o.MAC })
}

// The expected values were read with
//
//	tshark -r FILE -Y dhcpv6 -T fields -E occurrence=a -e eth.src \
//	  -e eth.dst -e dhcpv6.msgtype -e dhcpv6.duid.bytes \
//	  -e dhcpv6.client_domain -e dhcpv6.vendorclass.enterprise \
//	  -e dhcpv6.vendorclass.data -e dhcpv6.requested_option_code \
//	  -e dhcpv6.iaaddr.ip -e dhcpv6.mudurl
//
// and agree with tcpdump's dhcpv6-*.out. The DUID is the first
// dhcpv6.duid.bytes of a client message (the second is the server's).
var captures = []struct {
	file string
	want []string
}{
	// Solicit, Request, Release with ORO 23,24; Advertise and Replies carry
	// no address.
	{"arkime_arkime/tests/pcap/wireshark-dhcpv6.pcap", []string{
		"08:00:27:fe:8f:95 dhcp.client_id=00:01:00:01:1c:39:cf:88:08:00:27:fe:8f:95",
		"08:00:27:fe:8f:95 dhcp6.fingerprint=23,24",
	}},
	// A complete Solicit, Advertise, Request, Reply exchange: the Reply
	// (frame 4, to 00:0c:29:5e:77:44) assigns 2001:db8:1:2::1002.
	{"chrissanders_packets/dhcp6_outlease_acquisition.pcapng", []string{
		"00:0c:29:5e:77:44 dhcp.client_id=00:01:00:01:1d:ef:69:bd:00:0c:29:5e:77:44",
		"00:0c:29:5e:77:44 dhcp.requested_ip=2001:db8:1:2::1002",
		"00:0c:29:5e:77:44 dhcp6.fingerprint=23,24,39,31",
		"00:0c:29:5e:77:44 ip=2001:db8:1:2::1002",
	}},
	// Relay-forward of a Raspberry Pi's Solicit: keyed by the MAC in its
	// DUID-LLT (b827ebb853c8), not by the relay's.
	{"the-tcpdump-group_tcpdump/tests/dhcpv6-mud.pcap", []string{
		"b8:27:eb:b8:53:c8 dhcp.client_id=00:01:00:01:1e:62:77:0b:b8:27:eb:b8:53:c8",
		"b8:27:eb:b8:53:c8 dhcp.fqdn=raspberrypi",
		"b8:27:eb:b8:53:c8 dhcp.vendor_class=40712:dhcpcd-6.11.5:Linux-4.1.18-v7+:armv7l:BCM2709",
		"b8:27:eb:b8:53:c8 dhcp6.fingerprint=23,24,31,39,82,83",
		"b8:27:eb:b8:53:c8 hostname=raspberrypi",
		"b8:27:eb:b8:53:c8 mud_url=https://mudctl.example.com/.well-known/mud/v1/rasbp101",
	}},
	// A DUID-UUID client renews; the Reply goes to its MAC. tshark and
	// tcpdump both list the ORO as 23,24,23,24,1.
	{"the-tcpdump-group_tcpdump/tests/dhcpv6-rfc6355-duid-uuid.pcap", []string{
		"48:5b:39:e7:14:84 dhcp.client_id=00:04:a2:56:e9:2e:40:ab:d0:d2:a3:ab:3b:3f:f2:ff:89:98",
		"48:5b:39:e7:14:84 dhcp.requested_ip=2a02:2788:7c8:4dd:4a5b:39ff:fee7:1484",
		"48:5b:39:e7:14:84 dhcp6.fingerprint=23,24,23,24,1",
		"48:5b:39:e7:14:84 ip=2a02:2788:7c8:4dd:4a5b:39ff:fee7:1484",
	}},
	// A DOCSIS cable modem's relayed Request, keyed by its DUID-LL.
	{"the-tcpdump-group_tcpdump/tests/dhcpv6-vendor-specific-information.pcap", []string{
		"54:d4:6f:fa:10:9a dhcp.client_id=00:03:00:01:54:d4:6f:fa:10:9a",
		"54:d4:6f:fa:10:9a dhcp.requested_ip=fc00:502:411:1::31",
		"54:d4:6f:fa:10:9a dhcp.vendor_class=4491:docsis3.0",
		"54:d4:6f:fa:10:9a dhcp6.fingerprint=17",
	}},
	// Windows clients: FQDN, "MSFT 5.0" vendor class.
	{"packetrat_packethunting/smb-on-windows-10.pcap", []string{
		"00:0c:29:03:df:ad dhcp.client_id=00:01:00:01:1f:2a:1f:0e:00:0c:29:03:df:ad",
		"00:0c:29:03:df:ad dhcp.fqdn=DESKTOP-2AEFM7G",
		"00:0c:29:03:df:ad dhcp.vendor_class=311:MSFT 5.0",
		"00:0c:29:03:df:ad dhcp6.fingerprint=17,23,24,39",
		"00:0c:29:03:df:ad hostname=DESKTOP-2AEFM7G",
		"00:0c:29:61:f5:5f dhcp.client_id=00:01:00:01:1f:0c:78:b5:00:0c:29:61:f5:5f",
		"00:0c:29:61:f5:5f dhcp.fqdn=DESKTOP-V1FA0UQ",
		"00:0c:29:61:f5:5f dhcp.vendor_class=311:MSFT 5.0",
		"00:0c:29:61:f5:5f dhcp6.fingerprint=17,23,24,39",
		"00:0c:29:61:f5:5f hostname=DESKTOP-V1FA0UQ",
		"00:50:56:c0:00:01 dhcp.client_id=00:01:00:01:18:65:98:49:b8:88:e3:ab:83:79",
		"00:50:56:c0:00:01 dhcp.fqdn=SCV",
		"00:50:56:c0:00:01 dhcp.vendor_class=311:MSFT 5.0",
		"00:50:56:c0:00:01 dhcp6.fingerprint=24,23,17,39",
		"00:50:56:c0:00:01 hostname=SCV",
	}},
	{"ntop_nDPI/tests/cfgs/default/pcap/tor.pcap", []string{
		"52:54:00:5a:e9:77 dhcp.client_id=00:01:00:01:17:74:d6:07:52:54:00:a0:14:b8",
		"52:54:00:5a:e9:77 dhcp.fqdn=Endian-PC",
		"52:54:00:5a:e9:77 dhcp.vendor_class=311:MSFT 5.0",
		"52:54:00:5a:e9:77 dhcp6.fingerprint=24,23,17,39",
		"52:54:00:5a:e9:77 hostname=Endian-PC",
	}},
}

func TestCaptures(t *testing.T) {
	for _, c := range captures {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			res := dpitest.Run(t, []string{testshared.Pcap(t, c.file)}, dpi.DHCPv6{}, New())
			if res.Stats.DissectErrors != 0 {
				t.Errorf("%d dissect errors", res.Stats.DissectErrors)
			}
			if diff := cmp.Diff(c.want, facts(t, res.Observations)); diff != "" {
				t.Errorf("facts (-want +got):\n%s", diff)
			}
		})
	}
}

// opt encodes a DHCPv6 option.
func opt(code uint16, data ...byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, code)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

var (
	clientMAC = [6]byte{0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc}
	relayMAC  = [6]byte{0x00, 0x1b, 0x21, 0x00, 0x00, 0x01}
	// DUID-UUID: no MAC in it.
	duidUUID = opt(1, 0, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
	iaAddr   = opt(5, cat([]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07}, []byte{0, 0, 0x1c, 0x20, 0, 0, 0x1c, 0x20})...)
)

func relay(msgType byte, inner []byte, extra ...[]byte) []byte {
	hdr := make([]byte, 34)
	hdr[0] = msgType
	copy(hdr[18:], netip.MustParseAddr("fe80::21b:21ff:feaa:bbcc").AsSlice())
	return cat(hdr, opt(9, inner...), cat(extra...))
}

func TestDissect(t *testing.T) {
	solicit := cat([]byte{1, 0, 0, 1}, duidUUID, opt(39, 0x01, 4, 'p', 'u', 'm', 'p', 3, 'l', 'a', 'n', 0), opt(6, 0, 23, 0, 24))
	reply := cat([]byte{7, 0, 0, 1}, duidUUID, opt(3, cat([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, iaAddr)...))
	replyNoAddrs := cat([]byte{7, 0, 0, 1}, duidUUID, opt(3, cat([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, iaAddr, opt(13, 0, 2))...))
	cases := []struct {
		name    string
		payload []byte
		src     [6]byte
		dst     [6]byte
		want    []string
	}{
		{"direct solicit", solicit, clientMAC, [6]byte{0x33, 0x33, 0, 1, 0, 2}, []string{
			"00:1b:21:aa:bb:cc dhcp.client_id=00:04:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10",
			"00:1b:21:aa:bb:cc dhcp.fqdn=pump.lan",
			"00:1b:21:aa:bb:cc dhcp6.fingerprint=23,24",
			"00:1b:21:aa:bb:cc hostname=pump",
		}},
		{"direct reply", reply, relayMAC, clientMAC, []string{"00:1b:21:aa:bb:cc ip=2001:db8::7"}},
		{"reply with NoAddrsAvail", replyNoAddrs, relayMAC, clientMAC, nil},
		// A relayed client with a DUID-UUID is keyed by option 79.
		{"relayed with option 79", relay(12, solicit, opt(79, 0, 1, 0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc)), relayMAC, relayMAC, []string{
			"00:1b:21:aa:bb:cc dhcp.client_id=00:04:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10",
			"00:1b:21:aa:bb:cc dhcp.fqdn=pump.lan",
			"00:1b:21:aa:bb:cc dhcp6.fingerprint=23,24",
			"00:1b:21:aa:bb:cc hostname=pump",
		}},
		// Without it, nothing names the client: the relay must not get
		// its facts.
		{"relayed, no MAC", relay(12, solicit), relayMAC, relayMAC, nil},
		{"relay-reply, no MAC", relay(13, reply), relayMAC, relayMAC, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out dpi.Output
			p := &dpi.Packet{Transport: dpi.UDP, HasMAC: true, SrcMAC: c.src, DstMAC: c.dst,
				Src: netip.MustParseAddr("fe80::1"), Dst: netip.MustParseAddr("ff02::1:2"), Payload: c.payload}
			if err := New().Dissect(p, &out); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, facts(t, out.Observations)); diff != "" {
				t.Errorf("facts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	deep := []byte{1, 0, 0, 1}
	for range maxRelayDepth + 1 {
		deep = relay(12, deep)
	}
	for name, c := range map[string]struct {
		b    []byte
		want error
	}{
		"short":            {[]byte{1, 0}, nil},
		"option too long":  {cat([]byte{1, 0, 0, 1}, []byte{0, 1, 0, 9, 1}), nil},
		"relay too short":  {[]byte{12, 0, 0, 0, 0}, nil},
		"relay no message": {relay(12, nil)[:34], ErrRelay},
		"relays too deep":  {deep, ErrRelay},
	} {
		t.Run(name, func(t *testing.T) {
			var out dpi.Output
			err := New().Dissect(&dpi.Packet{HasMAC: true, SrcMAC: clientMAC, Payload: c.b}, &out)
			if err == nil || c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("error %v, want %v", err, c.want)
			}
			if len(out.Observations) != 0 {
				t.Errorf("observations %+v", out.Observations)
			}
		})
	}
}

func TestHelpers(t *testing.T) {
	if got := domainName([]byte{3, 'a', 'b', 'c', 9, 'x'}); got != "abc" {
		t.Errorf("domainName with a cut label = %q", got)
	}
	if got := vendorClass([]byte{0, 0, 1, 55, 0, 1, 'a', 0, 2, 'b', 'c'}); got != "311:a,bc" {
		t.Errorf("vendorClass = %q", got)
	}
	if got := vendorClass([]byte{0, 0, 1, 55}); got != "" {
		t.Errorf("vendorClass without data = %q", got)
	}
	if got := duidMAC([]byte{0, 3, 0, 1, 1, 0, 0, 0, 0, 1}); got != "" {
		t.Errorf("duidMAC of a multicast address = %q", got)
	}
}

func FuzzDissect(f *testing.F) {
	for _, c := range captures {
		for _, b := range dpitest.Payloads(f, testshared.Pcap(f, c.file), dpitest.Filter{Transport: dpi.UDP}) {
			f.Add(b)
		}
	}
	d := New()
	f.Fuzz(func(t *testing.T, b []byte) {
		var out dpi.Output
		_ = d.Dissect(&dpi.Packet{HasMAC: true, SrcMAC: clientMAC, DstMAC: relayMAC, Payload: b}, &out)
		dpitest.CheckValues(t, out.Observations)
	})
}
