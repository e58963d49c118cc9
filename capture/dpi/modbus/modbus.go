// Package modbus reads Modbus/TCP (Modbus Application Protocol v1.1b3 and
// the Modbus Messaging on TCP/IP Implementation Guide v1.0b): the device
// identification objects a server returns to Read Device Identification
// (function 43, MEI type 14), and per-flow counts of the requests that
// read and write a controller's data and of exception responses. Writes
// to the controllers of a hospital's air handling, chillers, medical gas
// or power are what a defender wants to see.
//
// It is a packet dissector: a segment may hold several ADUs, which it
// reads in turn, but an ADU split across segments is an error (none of
// the reference captures split one; requests and responses are at most
// 260 bytes).
package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vigil-health/vigil/capture/dpi"
)

// Protocol is the Observation protocol name.
const Protocol = "modbus"

// AttrApplication is the UserApplicationName object (0x06) of Read
// Device Identification: the application the controller runs.
const AttrApplication = "modbus.application"

// Flow counters.
const (
	// CounterReads counts requests that read data (functions 1-4, 20, 23,
	// 24) or the device identification (43/14).
	CounterReads = "modbus.reads"
	// CounterWrites counts requests that write coils, registers or files
	// (functions 5, 6, 15, 16, 21, 22, 23).
	CounterWrites = "modbus.writes"
	// CounterExceptions counts exception responses.
	CounterExceptions = "modbus.exceptions"
)

// Port is the Modbus/TCP server port.
const Port = 502

const (
	fcReadDeviceID = 43
	meiDeviceID    = 14
)

// Errors of malformed ADUs.
var (
	ErrShort  = errors.New("modbus: ADU too short")
	ErrHeader = errors.New("modbus: bad MBAP header")
)

// Dissector reads Modbus/TCP ADUs. It keeps no state between packets.
type Dissector struct{}

var _ dpi.Dissector = (*Dissector)(nil)

// New returns a Modbus/TCP dissector.
func New() *Dissector { return &Dissector{} }

// Name implements dpi.Dissector.
func (*Dissector) Name() string { return "modbus" }

// Protocols implements dpi.Dissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoModbus} }

// Dissect implements dpi.Dissector.
func (d *Dissector) Dissect(p *dpi.Packet, out *dpi.Output) error {
	// The server answers from port 502; when both ends use it, the flow's
	// originator is the client.
	response := p.SrcPort == Port && (p.DstPort != Port || !p.FromOrig)
	b := p.Payload
	for len(b) > 0 {
		// MBAP: transaction ID, protocol ID, length, unit ID
		if len(b) < 8 {
			return ErrShort
		}
		if binary.BigEndian.Uint16(b[2:4]) != 0 {
			return fmt.Errorf("%w: protocol identifier %d", ErrHeader, binary.BigEndian.Uint16(b[2:4]))
		}
		// A 253-byte PDU and the unit ID make 254; Schneider's UMAS sends
		// 255 (nDPI umas.pcap frame 19).
		n := int(binary.BigEndian.Uint16(b[4:6]))
		if n < 2 || n > 255 {
			return fmt.Errorf("%w: length %d", ErrHeader, n)
		}
		if 6+n > len(b) {
			return fmt.Errorf("%w: %d bytes of %d", ErrShort, len(b), 6+n)
		}
		unit, pdu := b[6], b[7:6+n]
		b = b[6+n:]
		if !response {
			request(pdu, out)
			continue
		}
		if pdu[0]&0x80 != 0 {
			out.Count(CounterExceptions, 1)
			continue
		}
		if pdu[0] == fcReadDeviceID && len(pdu) >= 2 && pdu[1] == meiDeviceID {
			if err := deviceID(p, unit, pdu, out); err != nil {
				return err
			}
		}
	}
	return nil
}

func request(pdu []byte, out *dpi.Output) {
	switch pdu[0] {
	case 1, 2, 3, 4, 20, 24: // read coils, discrete inputs, holding/input registers, file record, FIFO queue
		out.Count(CounterReads, 1)
	case 5, 6, 15, 16, 21, 22: // write coil(s), register(s), file record, mask write register
		out.Count(CounterWrites, 1)
	case 23: // read/write multiple registers
		out.Count(CounterReads, 1)
		out.Count(CounterWrites, 1)
	case fcReadDeviceID:
		if len(pdu) >= 2 && pdu[1] == meiDeviceID {
			out.Count(CounterReads, 1)
		}
	}
}

// object says what a device identification object is (section 6.21).
// Its confidence is lowered when the unit identifier suggests a device
// behind a gateway.
type object struct {
	attr                string
	confidence, lowered float64
	name                string
}

var objects = map[byte]object{
	0x00: {dpi.AttrVendor, 0.95, 0.8, "VendorName"},
	0x01: {dpi.AttrModbusProductCode, 0.95, 0.8, "ProductCode"},
	0x02: {dpi.AttrFirmwareVersion, 0.9, 0.75, "MajorMinorRevision"},
	// 0x03 VendorUrl says nothing the vendor name does not.
	0x04: {dpi.AttrModel, 0.85, 0.7, "ProductName"}, // a product line, less precise than ModelName
	0x05: {dpi.AttrModel, 0.95, 0.8, "ModelName"},
	0x06: {AttrApplication, 0.9, 0.75, "UserApplicationName"},
}

// deviceID reads a Read Device Identification response (section 6.21):
// MEI type, read device ID code, conformity level, more follows, next
// object ID, number of objects, then ID, length and value of each object.
// The objects describe the server that answers, unless the unit
// identifier addresses a device behind a gateway: on TCP a server is
// addressed by its IP and uses unit 0xFF (or 0), per the Implementation
// Guide section 4.4.1.2, so another unit lowers the confidence.
func deviceID(p *dpi.Packet, unit byte, pdu []byte, out *dpi.Output) error {
	if len(pdu) < 7 {
		return ErrShort
	}
	// Many servers answer on unit 1 too; the gateway case is a guess.
	behindGateway := unit != 0xff && unit != 0
	evidenceUnit := ""
	if behindGateway {
		evidenceUnit = fmt.Sprintf(" (unit %d)", unit)
	}
	count := int(pdu[6])
	b := pdu[7:]
	for range count {
		if len(b) < 2 || 2+int(b[1]) > len(b) {
			return ErrShort
		}
		id, value := b[0], b[2:2+int(b[1])]
		b = b[2+int(b[1]):]
		o, ok := objects[id]
		if !ok {
			continue
		}
		v := dpi.Text(value)
		if v == "" {
			continue
		}
		confidence := o.confidence
		if behindGateway {
			confidence = o.lowered
		}
		evidence := "Read Device Identification " + o.name + evidenceUnit
		out.Observe(p, dpi.Sender, o.attr, v, Protocol, confidence, evidence)
		if id == 0x00 {
			out.Observe(p, dpi.Sender, dpi.AttrModbusVendor, v, Protocol, confidence, evidence)
		}
	}
	return nil
}
