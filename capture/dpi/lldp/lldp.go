// Package lldp reads device facts from IEEE 802.1AB Link Layer Discovery
// Protocol frames: the chassis and port the sender describes, its system
// name, description and capabilities, its management addresses, the
// LLDP-MED inventory TLVs (ANSI/TIA-1057) in which phones, printers and
// medical devices state manufacturer, model, serial number and revisions,
// and the MUD URL (RFC 8520). Facts are keyed by the sender's MAC.
//
// The TLVs are read by hand rather than with layers.LinkLayerDiscovery:
// that decoder keeps only the last management address TLV, rejects a
// whole frame for one malformed optional TLV, and requires the End TLV
// that snap-length cuts drop.
package lldp

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

// Protocol is the Observation protocol name.
const Protocol = "lldp"

// EtherType is the LLDP EtherType.
const EtherType = 0x88cc

// Attribute names this package adds to the dpi vocabulary.
const (
	// AttrMEDClass is the LLDP-MED device class ("endpoint class III",
	// "network connectivity").
	AttrMEDClass = "lldp.med_class"
	// AttrMEDAssetID is the LLDP-MED inventory asset ID.
	AttrMEDAssetID = "lldp.med_asset_id"
	// AttrMUDURL is a Manufacturer Usage Description URL (RFC 8520), the
	// device's own pointer to the network behaviour its maker declares.
	AttrMUDURL = "mud_url"
)

// TLV types (IEEE 802.1AB-2016 8.4).
const (
	tlvEnd          = 0
	tlvChassisID    = 1
	tlvPortID       = 2
	tlvTTL          = 3
	tlvPortDescr    = 4
	tlvSystemName   = 5
	tlvSystemDescr  = 6
	tlvCapabilities = 7
	tlvMgmtAddress  = 8
	tlvOrgSpecific  = 127
)

// Organizationally unique identifiers of the org-specific TLVs read.
var (
	ouiMED  = [3]byte{0x00, 0x12, 0xbb} // TIA TR-41 (LLDP-MED)
	ouiIANA = [3]byte{0x00, 0x00, 0x5e} // IANA: subtype 1 is the MUD URL
)

// Errors returned for malformed frames. Facts read before the fault are
// still reported.
var (
	ErrTruncated        = errors.New("lldp: TLV runs past the frame")
	ErrMissingMandatory = errors.New("lldp: no chassis ID or port ID TLV")
	ErrNoSender         = errors.New("lldp: neither the source MAC nor the chassis ID identify the sender")
)

// fact is one observation waiting for the device key, known only once
// the chassis ID has been read.
type fact struct {
	attr, value string
	confidence  float64
	evidence    string
}

// Dissector reads LLDP frames. It keeps no state between frames but a
// reused scratch list; each capture worker needs its own.
type Dissector struct {
	facts []fact
}

var _ dpi.FrameDissector = (*Dissector)(nil)

// New returns an LLDP dissector.
func New() *Dissector { return &Dissector{} }

// Name implements dpi.FrameDissector.
func (*Dissector) Name() string { return "lldp" }

// Match implements dpi.FrameDissector.
func (*Dissector) Match(f *dpi.Frame) bool { return f.EtherType == EtherType }

// DissectFrame implements dpi.FrameDissector.
func (d *Dissector) DissectFrame(f *dpi.Frame, out *dpi.Output) error {
	d.facts = d.facts[:0]
	add := func(attr, value string, confidence float64, evidence string) {
		if value != "" {
			d.facts = append(d.facts, fact{attr, value, confidence, evidence})
		}
	}
	var chassisMAC []byte
	var haveChassis, havePort bool
	var err error
	b := f.Payload
	for len(b) > 0 {
		if len(b) < 2 {
			err = ErrTruncated
			break
		}
		typ, n := b[0]>>1, int(b[0]&1)<<8|int(b[1])
		if len(b) < 2+n {
			err = ErrTruncated
			break
		}
		v := b[2 : 2+n]
		b = b[2+n:]
		if typ == tlvEnd {
			break
		}
		switch typ {
		case tlvChassisID:
			if len(v) < 2 || haveChassis {
				continue
			}
			haveChassis = true
			if v[0] == 4 && len(v) == 7 {
				chassisMAC = v[1:]
			}
			add(dpi.AttrLLDPChassisID, idValue(v[0], 4, 5, v[1:]), 0.95, "LLDP chassis ID TLV")
		case tlvPortID:
			if len(v) < 2 || havePort {
				continue
			}
			havePort = true
			add(dpi.AttrLLDPPortID, idValue(v[0], 3, 4, v[1:]), 0.9, "LLDP port ID TLV")
		case tlvPortDescr:
			add(dpi.AttrLLDPPortDescr, dpi.Text(v), 0.9, "LLDP port description TLV")
		case tlvSystemName:
			name := dpi.Text(v)
			add(dpi.AttrLLDPSystemName, name, 0.95, "LLDP system name TLV")
			add(dpi.AttrHostname, name, 0.7, "LLDP system name TLV")
		case tlvSystemDescr:
			add(dpi.AttrLLDPSystemDescr, dpi.Text(v), 0.95, "LLDP system description TLV")
		case tlvCapabilities:
			if len(v) >= 4 {
				add(dpi.AttrLLDPCapabilities, Capabilities(binary.BigEndian.Uint16(v)), 0.95, "LLDP system capabilities TLV")
			}
		case tlvMgmtAddress:
			addr, ip := mgmtAddress(v)
			add(dpi.AttrLLDPMgmtAddress, addr, 0.95, "LLDP management address TLV")
			add(dpi.AttrIP, ip, 0.8, "LLDP management address TLV")
		case tlvOrgSpecific:
			d.orgSpecific(v, add)
		}
	}
	if err == nil && (!haveChassis || !havePort) {
		err = ErrMissingMandatory
	}

	// The frame's source is the device. A few stacks send from an all-zero
	// or otherwise unusable address; their MAC chassis ID names them then.
	mac := f.SrcMAC[:]
	if !usableMAC(mac) {
		mac = chassisMAC
		if !usableMAC(mac) {
			if len(d.facts) > 0 {
				return ErrNoSender
			}
			return err
		}
	}
	key := net.HardwareAddr(mac).String()
	dev := events.DeviceKey(key, "", f.VLAN)
	for _, x := range d.facts {
		out.Observations = append(out.Observations, events.Observation{
			Device: dev, MAC: key, VLAN: f.VLAN,
			Attribute: x.attr, Value: x.value, Protocol: Protocol,
			Confidence: x.confidence, Evidence: x.evidence,
		})
	}
	return err
}

// orgSpecific reads the organizationally specific TLVs that identify a
// device: LLDP-MED capabilities and inventory, and the MUD URL.
func (d *Dissector) orgSpecific(v []byte, add func(attr, value string, confidence float64, evidence string)) {
	if len(v) < 4 {
		return
	}
	oui, subtype, info := [3]byte{v[0], v[1], v[2]}, v[3], v[4:]
	switch oui {
	case ouiMED:
		switch subtype {
		case 1: // LLDP-MED capabilities: capability bits, device type
			if len(info) >= 3 {
				add(AttrMEDClass, medClass(info[2]), 0.95, "LLDP-MED capabilities TLV")
			}
		case 5:
			add(dpi.AttrHardwareVersion, dpi.Text(info), 0.95, "LLDP-MED hardware revision TLV")
		case 6:
			add(dpi.AttrFirmwareVersion, dpi.Text(info), 0.95, "LLDP-MED firmware revision TLV")
		case 7:
			add(dpi.AttrSoftwareVersion, dpi.Text(info), 0.95, "LLDP-MED software revision TLV")
		case 8:
			add(dpi.AttrSerial, dpi.Text(info), 0.95, "LLDP-MED serial number TLV")
		case 9:
			add(dpi.AttrVendor, dpi.Text(info), 0.95, "LLDP-MED manufacturer name TLV")
		case 10:
			add(dpi.AttrModel, dpi.Text(info), 0.95, "LLDP-MED model name TLV")
		case 11:
			add(AttrMEDAssetID, dpi.Text(info), 0.95, "LLDP-MED asset ID TLV")
		}
	case ouiIANA:
		if subtype == 1 {
			add(AttrMUDURL, dpi.Text(info), 0.95, "LLDP MUD URL TLV")
		}
	}
}

// idValue formats a chassis or port ID: a MAC or network address subtype
// as an address, anything else as text, or hex when it is not text.
func idValue(subtype, macSubtype, addrSubtype byte, id []byte) string {
	switch {
	case subtype == macSubtype && len(id) == 6:
		return net.HardwareAddr(id).String()
	case subtype == addrSubtype && len(id) > 1:
		if s := address(id[0], id[1:]); s != "" {
			return s
		}
	}
	if t := trimNUL(id); len(t) > 0 && printable(t) {
		return dpi.Text(t)
	}
	return dpi.HexColon(id)
}

// mgmtAddress reads a management address TLV: the address formatted, and
// the same address again when it is an IP (for the generic attribute).
func mgmtAddress(v []byte) (addr, ip string) {
	// address string length (subtype + address), subtype, address,
	// interface subtype, interface number (4), OID length, OID
	if len(v) < 1 {
		return "", ""
	}
	n := int(v[0])
	if n < 2 || n > 32 || len(v) < 1+n {
		return "", ""
	}
	family, a := v[1], v[2:1+n]
	addr = address(family, a)
	if addr == "" {
		return dpi.HexColon(a), ""
	}
	if family == 1 || family == 2 {
		ip = addr
	}
	return addr, ip
}

// address formats an address of an IANA address family: IPv4 (1), IPv6
// (2), 802 (6). It returns "" for other families or wrong lengths, and
// for unspecified IPs.
func address(family byte, a []byte) string {
	switch {
	case family == 1 && len(a) == 4:
		ip := netip.AddrFrom4([4]byte(a))
		if ip.IsUnspecified() {
			return ""
		}
		return ip.String()
	case family == 2 && len(a) == 16:
		ip := netip.AddrFrom16([16]byte(a))
		if ip.IsUnspecified() {
			return ""
		}
		return ip.String()
	case family == 6 && len(a) == 6:
		return net.HardwareAddr(a).String()
	}
	return ""
}

// capabilityNames are the system capability bits of 802.1AB-2016 8.5.8.1.
var capabilityNames = [...]string{
	"other", "repeater", "bridge", "wlan-ap", "router", "telephone",
	"docsis", "station", "c-vlan", "s-vlan", "tpmr",
}

// Capabilities names the capability bits set in bits, comma separated
// ("bridge,router,telephone").
func Capabilities(bits uint16) string {
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

func medClass(c byte) string {
	switch c {
	case 1:
		return "endpoint class I"
	case 2:
		return "endpoint class II"
	case 3:
		return "endpoint class III"
	case 4:
		return "network connectivity"
	}
	return ""
}

// usableMAC reports whether a names one device: six bytes, unicast, not
// all zero.
func usableMAC(a []byte) bool {
	return len(a) == 6 && a[0]&1 == 0 && [6]byte(a) != [6]byte{}
}

// trimNUL drops the NUL terminators some stacks leave on strings.
func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// printable reports whether b is text: valid UTF-8 of printable runes.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}
