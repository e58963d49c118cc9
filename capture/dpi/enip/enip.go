// Package enip reads device facts from EtherNet/IP explicit messaging
// (the encapsulation protocol of the CIP Networks Library Volume 2 on
// port 44818): the CIP Identity a device states in its ListIdentity reply
// (vendor, device type, product code, revision, serial number, product
// name), and the same Identity object attributes when a device answers a
// Get_Attributes_All of Identity instance 1 sent to it directly (as
// engineering tools and RSLinx do). It counts the discovery and session
// commands a scanner or engineering station sends. CIP I/O (UDP 2222) is
// not read.
package enip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/vigil-health/vigil/capture/dpi"
)

// Protocol is the Observation protocol name.
const Protocol = "enip"

// AttrProductCode is the vendor-assigned product code of the Identity
// object; with the vendor ID it names a product.
const AttrProductCode = "enip.product_code"

// Flow counters, incremented per request.
const (
	CounterListIdentity    = "enip.list_identity"
	CounterListServices    = "enip.list_services"
	CounterListInterfaces  = "enip.list_interfaces"
	CounterRegisterSession = "enip.register_session"
)

// Encapsulation commands (Volume 2, table 2-3.2).
const (
	cmdNOP               = 0x0000
	cmdListServices      = 0x0004
	cmdListIdentity      = 0x0063
	cmdListInterfaces    = 0x0064
	cmdRegisterSession   = 0x0065
	cmdUnRegisterSession = 0x0066
	cmdSendRRData        = 0x006f
	cmdSendUnitData      = 0x0070
	cmdIndicateStatus    = 0x0072
	cmdCancel            = 0x0073

	headerLen = 24

	itemCIPIdentity    = 0x000c
	itemUnconnectedMsg = 0x00b2

	serviceGetAttributesAll = 0x01
	classIdentity           = 0x01

	// maxItems bounds the items read from one message.
	maxItems = 64
	// maxPending bounds the Get_Attributes_All requests awaiting a reply.
	maxPending = 256
)

// Errors of malformed messages.
var (
	ErrShort   = errors.New("enip: message too short")
	ErrCommand = errors.New("enip: unknown encapsulation command")
)

// Dissector reads EtherNet/IP encapsulation messages. CIP replies do not
// repeat the request path, so it remembers the Get_Attributes_All requests
// for the Identity object until their reply (the encapsulation sender
// context ties the two): each capture worker needs its own.
type Dissector struct {
	pending map[pendingKey]struct{}
}

type pendingKey struct {
	flow    string
	session uint32
	context [8]byte
}

var _ dpi.Dissector = (*Dissector)(nil)

// New returns an EtherNet/IP dissector.
func New() *Dissector { return &Dissector{pending: map[pendingKey]struct{}{}} }

// Name implements dpi.Dissector.
func (*Dissector) Name() string { return "enip" }

// Protocols implements dpi.Dissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoENIP} }

// Dissect implements dpi.Dissector. A TCP segment may hold several
// encapsulation messages.
func (d *Dissector) Dissect(p *dpi.Packet, out *dpi.Output) error {
	b := p.Payload
	for len(b) > 0 {
		if len(b) < headerLen {
			return ErrShort
		}
		n := headerLen + int(binary.LittleEndian.Uint16(b[2:4]))
		if n > len(b) {
			return fmt.Errorf("%w: %d bytes of %d", ErrShort, len(b), n)
		}
		if err := d.message(p, b[:n], out); err != nil {
			return err
		}
		if p.Transport == dpi.UDP {
			break
		}
		b = b[n:]
	}
	return nil
}

func (d *Dissector) message(p *dpi.Packet, b []byte, out *dpi.Output) error {
	cmd := binary.LittleEndian.Uint16(b[0:2])
	session := binary.LittleEndian.Uint32(b[4:8])
	status := binary.LittleEndian.Uint32(b[8:12])
	data := b[headerLen:]
	// List requests carry no data; their replies do.
	switch cmd {
	case cmdListIdentity:
		if len(data) == 0 {
			out.Count(CounterListIdentity, 1)
			return nil
		}
		if status != 0 {
			return nil
		}
		return listIdentity(p, data, out)
	case cmdListServices:
		if len(data) == 0 {
			out.Count(CounterListServices, 1)
		}
	case cmdListInterfaces:
		if len(data) == 0 {
			out.Count(CounterListInterfaces, 1)
		}
	case cmdRegisterSession:
		if session == 0 { // the target assigns the handle in its reply
			out.Count(CounterRegisterSession, 1)
		}
	case cmdSendRRData:
		if status != 0 {
			return nil
		}
		key := pendingKey{flow: p.FlowID, session: session, context: [8]byte(b[12:20])}
		return d.sendRRData(p, key, data, out)
	case cmdNOP, cmdUnRegisterSession, cmdSendUnitData, cmdIndicateStatus, cmdCancel:
	case 0x0001, 0x0002, 0x0003:
		// Reserved for legacy use (Volume 2, table 2-3.2); RSLinx still
		// sends 0x0001 (EIP-FirmwareChange.pcap frames 10672, 10676).
	default:
		return fmt.Errorf("%w 0x%04x", ErrCommand, cmd)
	}
	return nil
}

// listIdentity reads a ListIdentity reply (Volume 2, 2-4.3): a list of
// items, the CIP Identity item holding the protocol version and a socket
// address before the Identity object's attributes.
func listIdentity(p *dpi.Packet, b []byte, out *dpi.Output) error {
	return items(b, func(typ uint16, item []byte) error {
		if typ != itemCIPIdentity {
			return nil
		}
		if len(item) < 18 {
			return ErrShort
		}
		id, err := parseIdentity(item[18:])
		if err != nil {
			return err
		}
		id.observe(p, "ListIdentity", out)
		return nil
	})
}

// items walks a common packet format item list (Volume 2, 2-6): an item
// count, then type, length and data of each item.
func items(b []byte, f func(typ uint16, data []byte) error) error {
	if len(b) < 2 {
		return ErrShort
	}
	count := int(binary.LittleEndian.Uint16(b[0:2]))
	if count > maxItems {
		return fmt.Errorf("enip: %d items", count)
	}
	b = b[2:]
	for range count {
		if len(b) < 4 {
			return ErrShort
		}
		typ := binary.LittleEndian.Uint16(b[0:2])
		n := 4 + int(binary.LittleEndian.Uint16(b[2:4]))
		if n > len(b) {
			return ErrShort
		}
		if err := f(typ, b[4:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// sendRRData follows a Get_Attributes_All of the Identity object sent
// directly to the target (an unconnected message item, 2-5.4, holding a
// CIP request) to its reply. Requests routed through the target to a
// module behind it (Unconnected_Send) are not followed: their reply is
// about that module.
func (d *Dissector) sendRRData(p *dpi.Packet, key pendingKey, b []byte, out *dpi.Output) error {
	if len(b) < 6 {
		return ErrShort
	}
	return items(b[6:], func(typ uint16, msg []byte) error { // after interface handle and timeout
		if typ != itemUnconnectedMsg || len(msg) < 2 {
			return nil
		}
		if msg[0]&0x80 == 0 { // request: service, path size in words, path
			pathEnd := 2 + 2*int(msg[1])
			if msg[0] != serviceGetAttributesAll || pathEnd > len(msg) {
				return nil
			}
			if class, instance, ok := logicalPath(msg[2:pathEnd]); ok && class == classIdentity && instance == 1 {
				if len(d.pending) >= maxPending {
					clear(d.pending) // replies lost: start over rather than grow
				}
				d.pending[key] = struct{}{}
			}
			return nil
		}
		if msg[0] != 0x80|serviceGetAttributesAll {
			return nil
		}
		if _, ok := d.pending[key]; !ok {
			return nil
		}
		delete(d.pending, key)
		// reply: service, reserved, general status, additional status size
		// in words, additional status, data
		if len(msg) < 4 || msg[2] != 0 {
			return nil
		}
		start := 4 + 2*int(msg[3])
		if start > len(msg) {
			return ErrShort
		}
		id, err := parseIdentity(msg[start:])
		if err != nil {
			return err
		}
		id.observe(p, "Identity Get_Attributes_All", out)
		return nil
	})
}

// logicalPath reads a padded EPATH of a class and an instance logical
// segment, 8 or 16 bits each (Volume 1, C-1.4.2).
func logicalPath(b []byte) (class, instance uint16, ok bool) {
	seg := func(kind byte) (uint16, bool) {
		switch {
		case len(b) >= 2 && b[0] == 0x20|kind:
			v := uint16(b[1])
			b = b[2:]
			return v, true
		case len(b) >= 4 && b[0] == 0x21|kind:
			v := binary.LittleEndian.Uint16(b[2:4])
			b = b[4:]
			return v, true
		}
		return 0, false
	}
	class, ok1 := seg(0x00)
	instance, ok2 := seg(0x04)
	return class, instance, ok1 && ok2 && len(b) == 0
}

// identity holds the Identity object's attributes 1 to 7 (Volume 1,
// 5A-2.2): they open both the ListIdentity item and the reply to
// Get_Attributes_All.
type identity struct {
	vendor, deviceType, productCode uint16
	major, minor                    uint8
	serial                          uint32
	productName                     []byte
}

func parseIdentity(b []byte) (identity, error) {
	// vendor, device type, product code, revision, status, serial, name length
	if len(b) < 15 {
		return identity{}, ErrShort
	}
	id := identity{
		vendor:      binary.LittleEndian.Uint16(b[0:2]),
		deviceType:  binary.LittleEndian.Uint16(b[2:4]),
		productCode: binary.LittleEndian.Uint16(b[4:6]),
		major:       b[6],
		minor:       b[7],
		serial:      binary.LittleEndian.Uint32(b[10:14]),
	}
	n := int(b[14])
	if 15+n > len(b) {
		return identity{}, ErrShort
	}
	id.productName = b[15 : 15+n]
	return id, nil
}

// observe publishes the identity as facts about the sender, the device
// that answered about itself.
func (id identity) observe(p *dpi.Packet, message string, out *dpi.Output) {
	obs := func(attr, value string, confidence float64, field string) {
		if value != "" {
			out.Observe(p, dpi.Sender, attr, value, Protocol, confidence, message+" "+field)
		}
	}
	obs(dpi.AttrENIPVendorID, strconv.Itoa(int(id.vendor)), 0.95, "vendor ID")
	if name, ok := vendors[id.vendor]; ok {
		// ODVA assigns vendor IDs to the maker of the product.
		obs(dpi.AttrVendor, name, 0.85, "vendor ID (ODVA vendor table)")
	}
	deviceType, ok := deviceTypes[id.deviceType]
	if !ok {
		deviceType = strconv.Itoa(int(id.deviceType))
	}
	obs(dpi.AttrENIPDeviceType, deviceType, 0.95, "device type")
	obs(AttrProductCode, strconv.Itoa(int(id.productCode)), 0.95, "product code")
	obs(dpi.AttrFirmwareVersion, strconv.Itoa(int(id.major))+"."+strconv.Itoa(int(id.minor)), 0.9, "revision")
	obs(dpi.AttrSerial, fmt.Sprintf("%08x", id.serial), 0.95, "serial number")
	name := dpi.Text(id.productName)
	obs(dpi.AttrENIPProductName, name, 0.95, "product name")
	obs(dpi.AttrModel, name, 0.9, "product name")
}
