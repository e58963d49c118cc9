package dicom

import (
	"encoding/binary"

	"github.com/vigil-health/vigil/capture/dpi"
)

// Command Field values (PS3.7 E.1).
const (
	cStoreRQ  = 0x0001
	cStoreRSP = 0x8001
)

// noDataSet is the Command Data Set Type of a message without a data set
// (PS3.7 E.1).
const noDataSet = 0x0101

// command is what the dissector reads of a command set.
type command struct {
	field, status, dataSet uint16
	hasField, hasStatus    bool
	// sopClass is the Affected SOP Class UID, pointing into the buffer.
	sopClass []byte
	// moveOriginator tells a C-STORE sub-operation of a C-MOVE.
	moveOriginator bool
}

// parseCommand reads a command set: group 0000 elements, always implicit
// VR little endian (PS3.7 6.3.1). A truncated buffer (more than
// maxCommand bytes) is read as far as it goes.
func parseCommand(b []byte, truncated bool) (command, error) {
	c := command{dataSet: noDataSet}
	for len(b) > 0 {
		if len(b) < 8 {
			if truncated {
				break
			}
			return c, malformed("command element header of %d bytes", len(b))
		}
		group, elem := binary.LittleEndian.Uint16(b[0:2]), binary.LittleEndian.Uint16(b[2:4])
		l := uint64(binary.LittleEndian.Uint32(b[4:8]))
		if group != 0 {
			return c, malformed("element (%04x,%04x) in a command set", group, elem)
		}
		if l > uint64(len(b)-8) {
			if truncated {
				break
			}
			return c, malformed("command element (0000,%04x) of %d bytes overruns the command", elem, l)
		}
		v := b[8 : 8+l]
		switch elem {
		case 0x0002: // Affected SOP Class UID
			c.sopClass = trimUID(v)
		case 0x0100: // Command Field
			if l != 2 {
				return c, malformed("command field of %d bytes", l)
			}
			c.field, c.hasField = binary.LittleEndian.Uint16(v), true
		case 0x0800: // Command Data Set Type
			if l == 2 {
				c.dataSet = binary.LittleEndian.Uint16(v)
			}
		case 0x0900: // Status
			if l == 2 {
				c.status, c.hasStatus = binary.LittleEndian.Uint16(v), true
			}
		case 0x1030: // Move Originator Application Entity Title
			c.moveOriginator = len(dpi.Text(v)) > 0
		}
		b = b[8+l:]
	}
	if !c.hasField {
		return c, malformed("command set without a command field")
	}
	return c, nil
}

// commandName returns the message name and flow counter of a Command
// Field (PS3.7 E.1, 9.3, 10.3).
func commandName(field uint16) (name, counter string) {
	switch field {
	case 0x0001:
		return "C-STORE-RQ", "dicom.c_store_rq"
	case 0x8001:
		return "C-STORE-RSP", "dicom.c_store_rsp"
	case 0x0010:
		return "C-GET-RQ", "dicom.c_get_rq"
	case 0x8010:
		return "C-GET-RSP", "dicom.c_get_rsp"
	case 0x0020:
		return "C-FIND-RQ", "dicom.c_find_rq"
	case 0x8020:
		return "C-FIND-RSP", "dicom.c_find_rsp"
	case 0x0021:
		return "C-MOVE-RQ", "dicom.c_move_rq"
	case 0x8021:
		return "C-MOVE-RSP", "dicom.c_move_rsp"
	case 0x0030:
		return "C-ECHO-RQ", "dicom.c_echo_rq"
	case 0x8030:
		return "C-ECHO-RSP", "dicom.c_echo_rsp"
	case 0x0FFF:
		return "C-CANCEL-RQ", "dicom.c_cancel_rq"
	case 0x0100:
		return "N-EVENT-REPORT-RQ", "dicom.n_event_report_rq"
	case 0x8100:
		return "N-EVENT-REPORT-RSP", "dicom.n_event_report_rsp"
	case 0x0110:
		return "N-GET-RQ", "dicom.n_get_rq"
	case 0x8110:
		return "N-GET-RSP", "dicom.n_get_rsp"
	case 0x0120:
		return "N-SET-RQ", "dicom.n_set_rq"
	case 0x8120:
		return "N-SET-RSP", "dicom.n_set_rsp"
	case 0x0130:
		return "N-ACTION-RQ", "dicom.n_action_rq"
	case 0x8130:
		return "N-ACTION-RSP", "dicom.n_action_rsp"
	case 0x0140:
		return "N-CREATE-RQ", "dicom.n_create_rq"
	case 0x8140:
		return "N-CREATE-RSP", "dicom.n_create_rsp"
	case 0x0150:
		return "N-DELETE-RQ", "dicom.n_delete_rq"
	case 0x8150:
		return "N-DELETE-RSP", "dicom.n_delete_rsp"
	}
	return "", "dicom.other_commands"
}

// statusClass is the category of a DIMSE status (PS3.7 annex C).
type statusClass uint8

const (
	statusSuccess statusClass = iota
	statusWarning
	statusPending
	statusCancel
	statusFailure
)

func classifyStatus(s uint16) statusClass {
	switch {
	case s == 0x0000:
		return statusSuccess
	case s == 0xFF00 || s == 0xFF01:
		return statusPending
	case s == 0xFE00:
		return statusCancel
	case s == 0x0001 || s == 0x0107 || s == 0x0116 || s&0xF000 == 0xB000:
		return statusWarning
	}
	return statusFailure
}

// command reads the command set collected in d: it counts the message,
// publishes the SOP class a request uses, and prepares the reading of a
// C-STORE-RQ's data set.
func (s *stream) command(p *dpi.Packet, d *direction, out *dpi.Output) error {
	c, err := parseCommand(d.cmd, d.cmdTrunc)
	if err != nil {
		return err
	}
	name, counter := commandName(c.field)
	out.Count(counter, 1)
	if c.field == cStoreRSP && c.hasStatus {
		switch classifyStatus(c.status) {
		case statusFailure:
			out.Count("dicom.c_store_failed", 1)
		case statusWarning:
			out.Count("dicom.c_store_warning", 1)
		}
	}
	// A C-STORE sent by the association's acceptor (a C-GET
	// sub-operation) or on behalf of a C-MOVE carries an object the
	// sender retrieved, not one it made.
	originates := c.field == cStoreRQ && !c.moveOriginator && s.requester(p)
	if name != "" && c.field&0x8000 == 0 && len(c.sopClass) > 0 {
		s.sopClassUsed(p, name, c.sopClass, originates, out)
	}
	d.dsOn = false
	if originates && c.dataSet != noDataSet {
		d.dsOn, d.dataPC = true, d.pc
		d.ds.reset(s.assoc.ts[d.pc])
	}
	return nil
}

// requester tells whether p was sent by the association requester (the
// connection's originator when the request was not seen).
func (s *stream) requester(p *dpi.Packet) bool {
	if s.assoc.seen {
		return p.FromOrig == s.assoc.reqOrig
	}
	return p.FromOrig
}

// maxUsed bounds the SOP classes remembered per direction.
const maxUsed = 16

// sopClassUsed publishes, once per direction, the SOP class a request
// uses, and the modality a stored object's class hints at.
func (s *stream) sopClassUsed(p *dpi.Packet, name string, uid []byte, originates bool, out *dpi.Output) {
	k := dirIndex(p.FromOrig)
	for _, u := range s.used[k] {
		if u == string(uid) {
			return
		}
	}
	if len(s.used[k]) == maxUsed {
		return
	}
	s.used[k] = append(s.used[k], string(uid))
	sc := sopClasses[string(uid)]
	ev := name + " affected SOP class UID"
	if sc.name != "" {
		ev += " (" + sc.name + ")"
	}
	out.Observe(p, dpi.Sender, dpi.AttrDICOMSOPClass, dpi.Text(uid), Protocol, 0.8, ev)
	if originates && sc.modality != "" {
		out.Observe(p, dpi.Sender, dpi.AttrDICOMModality, sc.modality, Protocol, modalityConfidence(sc.modality), name+" affected SOP class "+sc.name)
	}
}
