// Package cdp reads device facts from Cisco Discovery Protocol frames
// (802.3 LLC/SNAP, OUI 00:00:0c, protocol ID 0x2000): the device ID, the
// software version banner, the platform (model), the port it was sent
// from, its addresses and capabilities. Cisco switches, routers, IP
// phones and access points send CDP every minute; facts are keyed by the
// sender's MAC.
//
// The TLVs are read by hand rather than with layers.CiscoDiscoveryInfo,
// which rejects the whole frame for one malformed optional TLV (an odd IP
// prefix list, a short power TLV) and for a last TLV cut by the snap
// length.
package cdp

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

// Protocol is the Observation protocol name.
const Protocol = "cdp"

// Attribute names this package adds to the dpi vocabulary.
const (
	// AttrCapabilities names the CDP capability bits ("router,switch,igmp").
	AttrCapabilities = "cdp.capabilities"
	// AttrSoftwareVersion is the whole software version banner
	// ("Cisco IOS Software, C3560 Software (...), Version 12.2(44)SE, ...");
	// dpi.AttrSoftwareVersion gets the version number read from it.
	AttrSoftwareVersion = "cdp.software_version"
)

// SNAP identification of CDP.
var (
	SNAPOrg = [3]byte{0x00, 0x00, 0x0c}
)

// SNAPPID is the SNAP protocol ID of CDP.
const SNAPPID = 0x2000

// TLV types (Cisco, as documented by Wireshark's packet-cdp.c).
const (
	tlvDeviceID      = 0x0001
	tlvAddresses     = 0x0002
	tlvPortID        = 0x0003
	tlvCapabilities  = 0x0004
	tlvVersion       = 0x0005
	tlvPlatform      = 0x0006
	tlvSystemName    = 0x0014
	tlvMgmtAddresses = 0x0016
)

// Errors returned for malformed frames. Facts read before the fault are
// still reported.
var (
	ErrVersion   = errors.New("cdp: version is not 1 or 2")
	ErrTruncated = errors.New("cdp: TLV runs past the frame")
	ErrTLVLength = errors.New("cdp: TLV length below its header")
	ErrNoSender  = errors.New("cdp: source MAC does not identify the sender")
)

// Dissector reads CDP frames. It keeps no state between frames but
// reused scratch space; each capture worker needs its own.
type Dissector struct {
	ips []netip.Addr
}

var _ dpi.FrameDissector = (*Dissector)(nil)

// New returns a CDP dissector.
func New() *Dissector { return &Dissector{} }

// Name implements dpi.FrameDissector.
func (*Dissector) Name() string { return "cdp" }

// Match implements dpi.FrameDissector.
func (*Dissector) Match(f *dpi.Frame) bool {
	return f.EtherType == 0 && f.SNAPOrg == SNAPOrg && f.SNAPPID == SNAPPID
}

// DissectFrame implements dpi.FrameDissector.
func (d *Dissector) DissectFrame(f *dpi.Frame, out *dpi.Output) error {
	b := f.Payload
	if len(b) < 4 {
		return ErrTruncated
	}
	if b[0] != 1 && b[0] != 2 {
		return ErrVersion
	}
	mac := f.SrcMAC
	if mac[0]&1 != 0 || mac == [6]byte{} {
		return ErrNoSender
	}
	key := net.HardwareAddr(mac[:]).String()
	dev := events.DeviceKey(key, "", f.VLAN)
	obs := func(attr, value string, confidence float64, evidence string) {
		if value == "" {
			return
		}
		out.Observations = append(out.Observations, events.Observation{
			Device: dev, MAC: key, VLAN: f.VLAN,
			Attribute: attr, Value: value, Protocol: Protocol,
			Confidence: confidence, Evidence: evidence,
		})
	}
	d.ips = d.ips[:0]
	var deviceID string
	haveSysName := false
	var err error
	for b = b[4:]; len(b) > 0; {
		if len(b) < 4 {
			err = ErrTruncated
			break
		}
		typ, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if n < 4 {
			err = ErrTLVLength
			break
		}
		if len(b) < n {
			err = ErrTruncated
			break
		}
		v := b[4:n]
		b = b[n:]
		switch typ {
		case tlvDeviceID:
			deviceID = dpi.Text(v)
			obs(dpi.AttrCDPDeviceID, deviceID, 0.95, "CDP device ID TLV")
		case tlvAddresses:
			d.addresses(v, "CDP addresses TLV", obs)
		case tlvMgmtAddresses:
			d.addresses(v, "CDP management addresses TLV", obs)
		case tlvPortID:
			obs(dpi.AttrCDPPortID, dpi.Text(v), 0.9, "CDP port ID TLV")
		case tlvCapabilities:
			if len(v) >= 4 {
				obs(AttrCapabilities, Capabilities(binary.BigEndian.Uint32(v)), 0.95, "CDP capabilities TLV")
			}
		case tlvVersion:
			banner := dpi.Text(v)
			obs(AttrSoftwareVersion, banner, 0.95, "CDP software version TLV")
			obs(dpi.AttrSoftwareVersion, Version(banner), 0.9, "CDP software version TLV")
		case tlvPlatform:
			platform := dpi.Text(v)
			obs(dpi.AttrCDPPlatform, platform, 0.95, "CDP platform TLV")
			obs(dpi.AttrModel, model(platform), 0.8, "CDP platform TLV")
		case tlvSystemName:
			if name := dpi.Text(v); name != "" {
				haveSysName = true
				obs(dpi.AttrHostname, name, 0.7, "CDP system name TLV")
			}
		}
	}
	// IOS sets the device ID to the host name (with the domain when one
	// is configured); other stacks use a serial number or MAC, so it
	// ranks below the system name.
	if !haveSysName && hostnameLike(deviceID) {
		obs(dpi.AttrHostname, deviceID, 0.6, "CDP device ID TLV")
	}
	return err
}

// addresses reads an address list TLV: a count, then entries of protocol
// type, protocol length, protocol, address length, address. IPv4 is NLPID
// 0xcc; IPv6 is an 802.2 SNAP header with EtherType 0x86dd.
func (d *Dissector) addresses(v []byte, evidence string, obs func(attr, value string, confidence float64, evidence string)) {
	if len(v) < 4 {
		return
	}
	count := binary.BigEndian.Uint32(v)
	v = v[4:]
	for i := uint32(0); i < count && len(v) >= 2; i++ {
		plen := int(v[1])
		if len(v) < 2+plen+2 {
			return
		}
		ptype, proto := v[0], v[2:2+plen]
		alen := int(binary.BigEndian.Uint16(v[2+plen:]))
		v = v[2+plen+2:]
		if len(v) < alen {
			return
		}
		a := v[:alen]
		v = v[alen:]
		var ip netip.Addr
		switch {
		case ptype == 1 && plen == 1 && proto[0] == 0xcc && alen == 4:
			ip = netip.AddrFrom4([4]byte(a))
		case ptype == 2 && plen == 8 && binary.BigEndian.Uint16(proto[6:]) == 0x86dd && alen == 16:
			ip = netip.AddrFrom16([16]byte(a))
		default:
			continue
		}
		if ip.IsUnspecified() || slices.Contains(d.ips, ip) {
			continue
		}
		d.ips = append(d.ips, ip)
		obs(dpi.AttrIP, ip.String(), 0.9, evidence)
	}
}

// capabilityNames are the CDP capability bits, lowest first.
var capabilityNames = [...]string{
	"router", "trans-bridge", "source-route-bridge", "switch", "host",
	"igmp", "repeater", "phone", "remote", "cvta", "two-port-mac-relay",
}

// Capabilities names the capability bits set in bits, comma separated.
func Capabilities(bits uint32) string {
	var sb strings.Builder
	for i, name := range capabilityNames {
		if bits&(1<<i) == 0 {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(name)
	}
	return sb.String()
}

// Version returns the version number in a Cisco software banner: the
// word after "Version " ("12.2(44)SE"), or "" when there is none.
func Version(banner string) string {
	_, rest, ok := strings.Cut(banner, "Version ")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, ", "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// model strips the "cisco " that IOS puts before the product ID.
func model(platform string) string {
	if len(platform) > 6 && strings.EqualFold(platform[:6], "cisco ") {
		return strings.TrimSpace(platform[6:])
	}
	return platform
}

// hostnameLike reports whether s has the shape of a host name: letters,
// digits, '-', '_' and '.', starting with a letter or digit.
func hostnameLike(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}
