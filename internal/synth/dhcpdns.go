package synth

import (
	"encoding/binary"
	"net"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// leaseSeconds is the DHCP lease the router grants: a day, so no renewal
// falls inside the capture.
const leaseSeconds = 86400

var (
	broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	zeroIP       = netip.IPv4Unspecified()
	broadcastIP  = netip.AddrFrom4([4]byte{255, 255, 255, 255})
)

// dhcpClient is what a DHCP client says about itself.
type dhcpClient struct {
	dev    *Device
	params []byte // option 55
}

// dora emits a DHCP Discover, Offer, Request and Ack between client and
// server at t, the server granting client.dev.IP, and returns the time of
// the Ack.
func (g *gen) dora(t time.Time, cl dhcpClient, srv *host, mask netip.Prefix, domain string) time.Time {
	d := cl.dev
	xid := g.rng.Uint32()
	unbound := &host{mac: d.MAC, ip: zeroIP, ttl: 64}
	bcast := &host{mac: broadcastMAC, ip: broadcastIP}
	client := &host{mac: d.MAC, ip: d.IP}

	clientID := append([]byte{1}, d.MAC...)
	common := func(msg layers.DHCPMsgType) layers.DHCPOptions {
		return layers.DHCPOptions{
			layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(msg)}),
			layers.NewDHCPOption(layers.DHCPOptClientID, clientID),
		}
	}
	identity := layers.DHCPOptions{
		layers.NewDHCPOption(layers.DHCPOptHostname, []byte(d.Hostname)),
		layers.NewDHCPOption(layers.DHCPOptClassID, []byte(d.VendorClass)),
		layers.NewDHCPOption(layers.DHCPOptParamsRequest, cl.params),
	}

	request := func(ts time.Time, msg layers.DHCPMsgType, extra ...layers.DHCPOption) {
		opts := common(msg)
		opts = append(opts, extra...)
		opts = append(opts, identity...)
		g.dhcp(ts, unbound, bcast, 68, 67, &layers.DHCPv4{
			Operation: layers.DHCPOpRequest, HardwareType: layers.LinkTypeEthernet,
			Xid: xid, Secs: uint16(ts.Sub(t) / time.Second), ClientHWAddr: d.MAC, Options: opts,
		})
	}
	srvID := srv.ip.As4()
	reqIP := d.IP.As4()
	reply := func(ts time.Time, msg layers.DHCPMsgType) {
		var lease, renew, rebind [4]byte
		binary.BigEndian.PutUint32(lease[:], leaseSeconds)
		binary.BigEndian.PutUint32(renew[:], leaseSeconds/2)
		binary.BigEndian.PutUint32(rebind[:], leaseSeconds*7/8)
		m := net.CIDRMask(mask.Bits(), 32)
		opts := layers.DHCPOptions{
			layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(msg)}),
			layers.NewDHCPOption(layers.DHCPOptServerID, srvID[:]),
			layers.NewDHCPOption(layers.DHCPOptLeaseTime, lease[:]),
			layers.NewDHCPOption(layers.DHCPOptT1, renew[:]),
			layers.NewDHCPOption(layers.DHCPOptT2, rebind[:]),
			layers.NewDHCPOption(layers.DHCPOptSubnetMask, m),
			layers.NewDHCPOption(layers.DHCPOptRouter, srvID[:]),
			layers.NewDHCPOption(layers.DHCPOptDNS, srvID[:]),
			layers.NewDHCPOption(layers.DHCPOptDomainName, []byte(domain)),
		}
		g.dhcp(ts, srv, client, 67, 68, &layers.DHCPv4{
			Operation: layers.DHCPOpReply, HardwareType: layers.LinkTypeEthernet,
			Xid: xid, YourClientIP: d.IP.AsSlice(), NextServerIP: srv.ip.AsSlice(),
			ClientHWAddr: d.MAC, Options: opts,
		})
	}

	request(t, layers.DHCPMsgTypeDiscover, layers.NewDHCPOption(layers.DHCPOptRequestIP, reqIP[:]))
	t = t.Add(g.between(2*time.Millisecond, 8*time.Millisecond))
	reply(t, layers.DHCPMsgTypeOffer)
	t = t.Add(g.between(5*time.Millisecond, 40*time.Millisecond))
	request(t, layers.DHCPMsgTypeRequest,
		layers.NewDHCPOption(layers.DHCPOptRequestIP, reqIP[:]),
		layers.NewDHCPOption(layers.DHCPOptServerID, srvID[:]))
	t = t.Add(g.between(2*time.Millisecond, 8*time.Millisecond))
	reply(t, layers.DHCPMsgTypeAck)
	return t
}

// dhcp emits one DHCP message over UDP.
func (g *gen) dhcp(t time.Time, src, dst *host, sport, dport uint16, m *layers.DHCPv4) {
	ip := ipv4(src, dst, layers.IPProtocolUDP, false)
	if src.ip == zeroIP {
		ip.TTL = 64
	}
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	g.frame(t, src.mac, dst.mac, ip, u, m)
}

// dnsLookup emits an A query for name from cli to the resolver srv and the
// answer addr, and returns the time of the answer.
func (g *gen) dnsLookup(t time.Time, cli, srv *host, name string, addr netip.Addr) time.Time {
	id := uint16(g.rng.Uint32())
	sport := cli.ephemeral()
	q := layers.DNSQuestion{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}
	query := &layers.DNS{ID: id, RD: true, OpCode: layers.DNSOpCodeQuery, Questions: []layers.DNSQuestion{q}}
	ip := ipv4(cli, srv, layers.IPProtocolUDP, false)
	g.frame(t, cli.mac, srv.mac, ip, &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: 53}, query)

	t = t.Add(g.between(300*time.Microsecond, 2*time.Millisecond))
	resp := &layers.DNS{
		ID: id, QR: true, RD: true, RA: true, OpCode: layers.DNSOpCodeQuery,
		ResponseCode: layers.DNSResponseCodeNoErr,
		Questions:    []layers.DNSQuestion{q},
		Answers: []layers.DNSResourceRecord{{
			Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN,
			TTL: 300, IP: addr.AsSlice(),
		}},
	}
	ip = ipv4(srv, cli, layers.IPProtocolUDP, false)
	g.frame(t, srv.mac, cli.mac, ip, &layers.UDP{SrcPort: 53, DstPort: layers.UDPPort(sport)}, resp)
	return t
}
