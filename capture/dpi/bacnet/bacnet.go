// Package bacnet reads device facts from BACnet/IP (ASHRAE 135 Annex J):
// the device instance and vendor identifier a device announces in I-Am,
// and the identity properties of its Device object (object-name,
// vendor-name, model-name, firmware-revision, application-software-version,
// location, description) when it answers ReadProperty or
// ReadPropertyMultiple. It also counts the confirmed requests that read,
// write or control building controllers.
//
// A fact is about the sender of the message. Two cases are not the
// sender: a Forwarded-NPDU, where a BBMD relays the message of the B/IP
// address it names (that address becomes the device, keyed by IP), and an
// NPDU with a source network (SNET), sent by a device behind a BACnet
// router (MS/TP, another IP network): such a device has no IP or MAC the
// sensor sees, so its messages yield no observation.
package bacnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"unicode/utf8"

	"github.com/vigil-health/vigil/capture/dpi"
)

// Protocol is the Observation protocol name.
const Protocol = "bacnet"

// BACnet attributes that have no generic name in dpi.
const (
	// AttrLocation is the Device object's location property (58).
	AttrLocation = "bacnet.location"
	// AttrDescription is the Device object's description property (28).
	AttrDescription = "bacnet.description"
)

// Flow counters, incremented per confirmed request.
const (
	// CounterReads counts ReadProperty, ReadPropertyMultiple and ReadRange
	// requests.
	CounterReads = "bacnet.reads"
	// CounterWrites counts WriteProperty and WritePropertyMultiple
	// requests: commands to building controllers.
	CounterWrites = "bacnet.writes"
	// CounterDeviceControl counts DeviceCommunicationControl and
	// ReinitializeDevice requests, which silence or restart a device.
	CounterDeviceControl = "bacnet.device_control"
)

// Dissector reads BACnet/IP messages. It keeps no state between packets.
type Dissector struct{}

var _ dpi.Dissector = (*Dissector)(nil)

// New returns a BACnet dissector.
func New() *Dissector { return &Dissector{} }

// Name implements dpi.Dissector.
func (*Dissector) Name() string { return "bacnet" }

// Protocols implements dpi.Dissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoBACnet} }

// Errors of malformed messages.
var (
	ErrShort = errors.New("bacnet: message too short")
	ErrBVLC  = errors.New("bacnet: bad BVLC header")
	ErrNPDU  = errors.New("bacnet: bad NPDU header")
	ErrTag   = errors.New("bacnet: bad tag")
)

// BACnet constants (ASHRAE 135 clauses 20 and 21).
const (
	objectTypeDevice = 8
	// instanceWildcard is the device instance that means "the device that
	// receives this" (clause 15.5.2); it names no device.
	instanceWildcard = 0x3fffff

	pduConfirmedRequest   = 0
	pduUnconfirmedRequest = 1
	pduComplexACK         = 3

	serviceIAm                    = 0 // unconfirmed
	serviceReadProperty           = 12
	serviceReadPropertyMultiple   = 14
	serviceReadRange              = 26
	serviceWriteProperty          = 15
	serviceWritePropertyMultiple  = 16
	serviceDeviceCommunicationCtl = 17
	serviceReinitializeDevice     = 20

	tagUnsigned  = 2
	tagCharStr   = 7
	tagObjectID  = 12
	tagEnumerate = 9
)

// Device object properties read (clause 21, BACnetPropertyIdentifier).
const (
	propAppSoftwareVersion = 12
	propDescription        = 28
	propFirmwareRevision   = 44
	propLocation           = 58
	propModelName          = 70
	propObjectIdentifier   = 75
	propObjectName         = 77
	propVendorIdentifier   = 120
	propVendorName         = 121
)

// Dissect implements dpi.Dissector.
func (d *Dissector) Dissect(p *dpi.Packet, out *dpi.Output) error {
	b := p.Payload
	if len(b) < 4 {
		return ErrShort
	}
	if b[0] != 0x81 {
		return fmt.Errorf("%w: type 0x%02x", ErrBVLC, b[0])
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < 4 || n > len(b) {
		return fmt.Errorf("%w: length %d of %d", ErrBVLC, n, len(b))
	}
	b = b[:n]
	about := p
	switch b[1] {
	case 0x04: // Forwarded-NPDU: the B/IP address of the original sender, then its NPDU
		if len(b) < 10 {
			return ErrShort
		}
		orig := *p
		orig.Src = netip.AddrFrom4([4]byte(b[4:8]))
		orig.SrcPort = binary.BigEndian.Uint16(b[8:10])
		orig.HasMAC = false // the frame's source MAC is the BBMD's
		about = &orig
		b = b[10:]
	case 0x09, 0x0a, 0x0b:
		b = b[4:]
	default:
		return nil // BVLC management: no NPDU
	}
	apdu, routed, err := npdu(b)
	if err != nil || apdu == nil {
		return err
	}
	if routed {
		about = nil
	}
	return d.apdu(about, apdu, out)
}

// npdu returns the APDU of an NPDU (nil for a network layer message) and
// whether the NPDU names a source network, that is, was routed from a
// device that is not the sender (clause 6.2).
func npdu(b []byte) (apdu []byte, routed bool, err error) {
	if len(b) < 2 {
		return nil, false, ErrShort
	}
	if b[0] != 0x01 {
		return nil, false, fmt.Errorf("%w: version %d", ErrNPDU, b[0])
	}
	control := b[1]
	i := 2
	hasDest := control&0x20 != 0
	if hasDest { // DNET, DLEN, DADR
		if len(b) < i+3 {
			return nil, false, ErrShort
		}
		i += 3 + int(b[i+2])
	}
	if control&0x08 != 0 { // SNET, SLEN, SADR
		if len(b) < i+3 {
			return nil, false, ErrShort
		}
		routed = true
		i += 3 + int(b[i+2])
	}
	if hasDest {
		i++ // hop count
	}
	if control&0x80 != 0 {
		return nil, routed, nil // network layer message
	}
	if len(b) <= i {
		return nil, routed, ErrShort
	}
	return b[i:], routed, nil
}

// apdu reads an APDU (clause 20.1). p is nil when the APDU came from a
// device behind a router: requests still count on the flow, but no fact
// is observed.
func (d *Dissector) apdu(p *dpi.Packet, b []byte, out *dpi.Output) error {
	switch b[0] >> 4 {
	case pduConfirmedRequest:
		// flags, max segments/APDU, invoke ID, [sequence, window], service
		i := 3
		if b[0]&0x08 != 0 {
			if len(b) < 4 {
				return ErrShort
			}
			if b[3] != 0 {
				return nil // a later segment of a request already counted
			}
			i += 2
		}
		if len(b) <= i {
			return ErrShort
		}
		switch b[i] {
		case serviceReadProperty, serviceReadPropertyMultiple, serviceReadRange:
			out.Count(CounterReads, 1)
		case serviceWriteProperty, serviceWritePropertyMultiple:
			out.Count(CounterWrites, 1)
		case serviceDeviceCommunicationCtl, serviceReinitializeDevice:
			out.Count(CounterDeviceControl, 1)
		}
	case pduUnconfirmedRequest:
		if len(b) < 2 {
			return ErrShort
		}
		if b[1] == serviceIAm && p != nil {
			return iAm(p, b[2:], out)
		}
	case pduComplexACK:
		if p == nil {
			return nil
		}
		// flags, invoke ID, [sequence number, proposed window], service
		i := 2
		if b[0]&0x08 != 0 {
			if len(b) < 4 {
				return ErrShort
			}
			if b[2] != 0 {
				return nil // a later segment: only the first has the object and property
			}
			i += 2
		}
		if len(b) <= i {
			return ErrShort
		}
		// A first segment ends mid-value: the reader stops at the cut
		// without an error and keeps what came before.
		segmented := b[0]&0x08 != 0
		r := reader{b: b[i+1:], partialOK: segmented}
		switch b[i] {
		case serviceReadProperty:
			return readPropertyACK(p, &r, out)
		case serviceReadPropertyMultiple:
			return readPropertyMultipleACK(p, &r, out)
		}
	}
	return nil
}

// iAm reads an I-Am request (clause 16.10.3): device identifier, max APDU
// length, segmentation supported, vendor identifier.
func iAm(p *dpi.Packet, b []byte, out *dpi.Output) error {
	r := reader{b: b}
	id, err := r.app(tagObjectID)
	if err != nil {
		return err
	}
	objType, instance, ok := objectID(id)
	if !ok || objType != objectTypeDevice {
		return fmt.Errorf("%w: I-Am identifier is not a device", ErrTag)
	}
	if _, err := r.app(tagUnsigned); err != nil {
		return err
	}
	if _, err := r.app(tagEnumerate); err != nil {
		return err
	}
	v, err := r.app(tagUnsigned)
	if err != nil {
		return err
	}
	vendorID, ok := unsigned(v)
	if !ok {
		return fmt.Errorf("%w: vendor identifier", ErrTag)
	}
	if instance != instanceWildcard {
		out.Observe(p, dpi.Sender, dpi.AttrBACnetDeviceInstance, strconv.FormatUint(uint64(instance), 10), Protocol, 0.95, "I-Am device identifier")
	}
	observeVendorID(p, vendorID, "I-Am vendor identifier", out)
	return nil
}

func observeVendorID(p *dpi.Packet, id uint32, evidence string, out *dpi.Output) {
	out.Observe(p, dpi.Sender, dpi.AttrBACnetVendorID, strconv.FormatUint(uint64(id), 10), Protocol, 0.95, evidence)
	if name, ok := vendors[id]; ok {
		// The vendor identifier names whoever registered the device's
		// BACnet implementation, at times an integrator rather than the
		// maker: an inference, below what the device says in vendor-name.
		out.Observe(p, dpi.Sender, dpi.AttrVendor, name, Protocol, 0.8, evidence+" (ASHRAE vendor ID table)")
	}
}

// readPropertyACK reads a ReadProperty-ACK (clause 15.5.1.3.1):
// objectIdentifier [0], propertyIdentifier [1], propertyArrayIndex [2]
// OPTIONAL, propertyValue [3].
func readPropertyACK(p *dpi.Packet, r *reader, out *dpi.Output) error {
	id, err := r.context(0)
	if err != nil {
		return r.end(err)
	}
	objType, _, ok := objectID(id)
	if !ok {
		return fmt.Errorf("%w: object identifier", ErrTag)
	}
	prop, err := r.context(1)
	if err != nil {
		return r.end(err)
	}
	propID, ok := unsigned(prop)
	if !ok {
		return fmt.Errorf("%w: property identifier", ErrTag)
	}
	indexed := false
	if r.peekContext(2) {
		if _, err := r.context(2); err != nil {
			return r.end(err)
		}
		indexed = true
	}
	if objType != objectTypeDevice || indexed {
		return nil
	}
	t, err := r.openedValue(3)
	if err != nil {
		return r.end(err)
	}
	property(p, propID, t, "ReadProperty-ACK", out)
	return nil
}

// readPropertyMultipleACK reads a ReadPropertyMultiple-ACK (clause
// 15.7.1.3.1): a list of objectIdentifier [0] and listOfResults [1]
// holding propertyIdentifier [2], propertyArrayIndex [3] OPTIONAL and
// propertyValue [4] or propertyAccessError [5].
func readPropertyMultipleACK(p *dpi.Packet, r *reader, out *dpi.Output) error {
	for objects := 0; len(r.b) > 0; objects++ {
		if objects >= maxItems {
			return fmt.Errorf("%w: more than %d objects", ErrTag, maxItems)
		}
		id, err := r.context(0)
		if err != nil {
			return r.end(err)
		}
		objType, _, ok := objectID(id)
		if !ok {
			return fmt.Errorf("%w: object identifier", ErrTag)
		}
		if err := r.opening(1); err != nil {
			return r.end(err)
		}
		for results := 0; ; results++ {
			if results >= maxItems {
				return fmt.Errorf("%w: more than %d results", ErrTag, maxItems)
			}
			if done, err := r.closing(1); err != nil || done {
				if err != nil {
					return r.end(err)
				}
				break
			}
			prop, err := r.context(2)
			if err != nil {
				return r.end(err)
			}
			propID, ok := unsigned(prop)
			if !ok {
				return fmt.Errorf("%w: property identifier", ErrTag)
			}
			indexed := false
			if r.peekContext(3) {
				if _, err := r.context(3); err != nil {
					return r.end(err)
				}
				indexed = true
			}
			if r.peekContext(5) { // propertyAccessError
				if err := r.skipConstructed(5); err != nil {
					return r.end(err)
				}
				continue
			}
			t, err := r.openedValue(4)
			if err != nil {
				return r.end(err)
			}
			if objType == objectTypeDevice && !indexed {
				property(p, propID, t, "ReadPropertyMultiple-ACK", out)
			}
		}
	}
	return nil
}

// property publishes one Device object property value.
func property(p *dpi.Packet, propID uint32, t tag, message string, out *dpi.Output) {
	if !t.ok {
		return // not a single primitive value
	}
	obs := func(attr, value string, confidence float64, name string) {
		if value != "" {
			out.Observe(p, dpi.Sender, attr, value, Protocol, confidence, message+" "+name)
		}
	}
	switch propID {
	case propObjectIdentifier:
		if t.class == classApp && t.number == tagObjectID {
			if objType, instance, ok := objectID(t.data); ok && objType == objectTypeDevice && instance != instanceWildcard {
				obs(dpi.AttrBACnetDeviceInstance, strconv.FormatUint(uint64(instance), 10), 0.95, "object-identifier")
			}
		}
	case propVendorIdentifier:
		if t.class == classApp && t.number == tagUnsigned {
			if id, ok := unsigned(t.data); ok {
				observeVendorID(p, id, message+" vendor-identifier", out)
			}
		}
	case propObjectName:
		v := charString(t)
		obs(dpi.AttrBACnetObjectName, v, 0.95, "object-name")
		// Integrators name a device after its place or role; that is
		// often, not always, its host name.
		obs(dpi.AttrHostname, v, 0.6, "object-name")
	case propVendorName:
		obs(dpi.AttrVendor, charString(t), 0.95, "vendor-name")
	case propModelName:
		obs(dpi.AttrModel, charString(t), 0.95, "model-name")
	case propFirmwareRevision:
		obs(dpi.AttrFirmwareVersion, charString(t), 0.9, "firmware-revision")
	case propAppSoftwareVersion:
		obs(dpi.AttrSoftwareVersion, charString(t), 0.9, "application-software-version")
	case propLocation:
		obs(AttrLocation, charString(t), 0.9, "location")
	case propDescription:
		obs(AttrDescription, charString(t), 0.9, "description")
	}
}

// objectID splits a 4-byte BACnetObjectIdentifier (clause 20.2.14).
func objectID(b []byte) (objType uint16, instance uint32, ok bool) {
	if len(b) != 4 {
		return 0, 0, false
	}
	v := binary.BigEndian.Uint32(b)
	return uint16(v >> 22), v & 0x3fffff, true
}

// unsigned decodes a 1 to 4 byte unsigned integer (clause 20.2.4).
func unsigned(b []byte) (uint32, bool) {
	if len(b) == 0 || len(b) > 4 {
		return 0, false
	}
	var v uint32
	for _, c := range b {
		v = v<<8 | uint32(c)
	}
	return v, true
}

// charString decodes an application-tagged CharacterString (clause
// 20.2.9) into a bounded value; "" for other tags and for the DBCS and
// JIS X 0208 character sets, which are not decoded.
func charString(t tag) string {
	if t.class != classApp || t.number != tagCharStr || len(t.data) < 1 {
		return ""
	}
	s := t.data[1:]
	switch t.data[0] {
	case 0: // ISO 10646 UTF-8 (formerly ANSI X3.4)
		return dpi.Text(s)
	case 3: // ISO 10646 UCS-4
		return dpi.Text(wide(s, 4))
	case 4: // ISO 10646 UCS-2
		return dpi.Text(wide(s, 2))
	case 5: // ISO 8859-1
		return dpi.Text(wide(s, 1))
	}
	return ""
}

// wide converts big-endian code units of size bytes to UTF-8, stopping at
// about twice dpi.MaxValue bytes: dpi.Text bounds the rest.
func wide(b []byte, size int) []byte {
	out := make([]byte, 0, min(len(b), 2*dpi.MaxValue))
	for ; len(b) >= size && len(out) < 2*dpi.MaxValue; b = b[size:] {
		var r rune
		for _, c := range b[:size] {
			r = r<<8 | rune(c)
		}
		if !utf8.ValidRune(r) {
			r = utf8.RuneError
		}
		out = utf8.AppendRune(out, r)
	}
	return out
}
