package main

import (
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// frame serializes a packet with correct checksums.
func frame(t *testing.T, src, dst string, transport string, vlan bool) []byte {
	t.Helper()
	s, d := net.ParseIP(src), net.ParseIP(dst)
	v6 := s.To4() == nil
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	var ls []gopacket.SerializableLayer
	var netLayer gopacket.NetworkLayer
	proto := map[string]layers.IPProtocol{"tcp": layers.IPProtocolTCP, "udp": layers.IPProtocolUDP, "icmp6": layers.IPProtocolICMPv6}[transport]
	etype := layers.EthernetTypeIPv4
	if v6 {
		etype = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: s, DstIP: d}
		ls, netLayer = append(ls, ip), ip
	} else {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: s.To4(), DstIP: d.To4()}
		ls, netLayer = append(ls, ip), ip
	}
	if vlan {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append([]gopacket.SerializableLayer{&layers.Dot1Q{VLANIdentifier: 7, Type: etype}}, ls...)
	} else {
		eth.EthernetType = etype
	}
	ls = append([]gopacket.SerializableLayer{eth}, ls...)
	switch transport {
	case "tcp":
		l := &layers.TCP{SrcPort: 40000, DstPort: 2575, Seq: 7, ACK: true, PSH: true, Window: 512}
		_ = l.SetNetworkLayerForChecksum(netLayer)
		ls = append(ls, l)
	case "udp":
		l := &layers.UDP{SrcPort: 5000, DstPort: 514}
		_ = l.SetNetworkLayerForChecksum(netLayer)
		ls = append(ls, l)
	case "icmp6":
		l := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
		_ = l.SetNetworkLayerForChecksum(netLayer)
		ls = append(ls, l, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 2})
	}
	ls = append(ls, gopacket.Payload("MSH|^~\\&|payload"))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPerturb(t *testing.T) {
	cases := []struct {
		name             string
		src, dst         string
		wantSrc, wantDst string
		transport        string
		vlan             bool
	}{
		{"ipv4 tcp", "10.1.2.3", "192.168.40.5", "10.1.7.3", "192.168.45.5", "tcp", false},
		{"ipv4 udp to broadcast", "10.1.2.3", "255.255.255.255", "10.1.7.3", "255.255.255.255", "udp", false},
		{"ipv4 udp in vlan", "172.16.0.9", "172.16.1.9", "172.16.5.9", "172.16.4.9", "udp", true},
		{"ipv6 tcp", "2001:db8::10", "2001:db8::1:20", "2001:db8::5:10", "2001:db8::4:20", "tcp", false},
		{"ipv6 icmp to multicast", "fe80::1", "ff02::1", "fe80::5:1", "ff02::1", "icmp6", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := frame(t, tc.src, tc.dst, tc.transport, tc.vlan)
			perturb(got, 5)
			want := frame(t, tc.wantSrc, tc.wantDst, tc.transport, tc.vlan)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("perturbed frame (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPerturbZeroUDPChecksum(t *testing.T) {
	f := frame(t, "10.1.2.3", "10.1.2.4", "udp", false)
	f[14+20+6], f[14+20+7] = 0, 0 // no checksum
	perturb(f, 9)
	if f[14+20+6] != 0 || f[14+20+7] != 0 {
		t.Errorf("UDP checksum 0 became %#x%02x", f[14+20+6], f[14+20+7])
	}
}
