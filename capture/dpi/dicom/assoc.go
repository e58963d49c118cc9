package dicom

import (
	"bytes"
	"encoding/binary"
	"strconv"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

// maxProposals is the largest number of distinct abstract syntaxes whose
// proposal is published. A requester proposing more (dcmtk's storescu
// proposes 128 storage classes by default, a C-GET SCU all it can
// receive) is a generic sender: its list says nothing about the device.
const maxProposals = 16

// maxModalityHints is the largest number of distinct modalities hinted
// by one proposal that are published: a modality proposes its own image
// class and perhaps secondary capture; a workstation proposes many.
const maxModalityHints = 2

// association is what a connection's association tells, across both
// directions.
type association struct {
	// seen tells that an A-ASSOCIATE-RQ was read; reqOrig that the
	// connection's originator sent it.
	seen, reqOrig bool
	// pending tells that the request awaits its answer.
	pending bool
	calling string
	// called is the AE title the requester asked for: published about
	// the acceptor when no A-ASSOCIATE-AC states it and no rejection
	// denies it.
	called string
	// rq is the request packet without its payload, for what is
	// reported when the connection ends.
	rq dpi.Packet
	// ts is the accepted transfer syntax per presentation context ID.
	ts [256]tsKind
	// props are the distinct proposed abstract syntaxes, until there are
	// more than maxProposals (broad).
	props []proposal
	broad bool
}

type proposal struct {
	uid string
	// notSCU is set when SCP/SCU role selection says the requester will
	// not act as SCU for the class (it receives such objects).
	notSCU bool
}

// Evidence names.
const (
	evRQ = "A-ASSOCIATE-RQ"
	evAC = "A-ASSOCIATE-AC"
)

// assocFixed reads the fixed part of an A-ASSOCIATE-RQ or -AC (PS3.8
// 9.3.2, 9.3.3): protocol version, called and calling AE titles.
func (s *stream) assocFixed(p *dpi.Packet, typ byte, b []byte, out *dpi.Output) {
	called, calling := dpi.Text(b[4:20]), dpi.Text(b[20:36])
	if typ == pduAssociateRQ {
		s.assoc = association{seen: true, reqOrig: p.FromOrig, pending: true, calling: calling, called: called, rq: *p}
		s.assoc.rq.Payload = nil
		out.Count("dicom.associate_rq", 1)
		if calling != "" {
			out.Observe(p, dpi.Sender, dpi.AttrDICOMAETitle, calling, Protocol, 0.9, evRQ+" calling AE title")
		}
		out.Observe(p, dpi.Sender, dpi.AttrDICOMRole, "scu", Protocol, 0.8, evRQ+" sender (association requester)")
		return
	}
	// The AC repeats the request's AE titles (PS3.8 9.3.3.2); by
	// accepting, the acceptor answers to the called one.
	out.Count("dicom.associations", 1)
	if called != "" {
		out.Observe(p, dpi.Sender, dpi.AttrDICOMAETitle, called, Protocol, 0.8, evAC+" called AE title")
	}
	out.Observe(p, dpi.Sender, dpi.AttrDICOMRole, "scp", Protocol, 0.8, evAC+" sender (association acceptor)")
	principal := calling
	if s.assoc.seen {
		principal = s.assoc.calling
	}
	s.assoc.pending = false
	s.assoc.called = ""
	s.authResponse(p, out, principal, events.AuthSuccess, "")
}

// publishCalled publishes the requested called AE title about the
// request's receiver, once, at lower confidence: the requester only
// names it.
func (s *stream) publishCalled(out *dpi.Output) {
	a := &s.assoc
	if a.called != "" {
		out.Observe(&a.rq, dpi.Receiver, dpi.AttrDICOMAETitle, a.called, Protocol, 0.6, evRQ+" called AE title")
		a.called = ""
	}
}

// authResponse reports the outcome of the association request answered
// by p: the requester is its receiver.
func (s *stream) authResponse(p *dpi.Packet, out *dpi.Output, principal string, result events.AuthResult, reason string) {
	out.Auths = append(out.Auths, events.Auth{
		Client: p.Endpoint(dpi.Receiver), Server: p.Endpoint(dpi.Sender), VLAN: p.VLAN,
		Protocol: Protocol, Method: "ae-title", Principal: principal,
		Result: result, Reason: reason, FlowID: p.FlowID,
	})
}

// authRequest reports the outcome of the pending request from the request
// packet: the requester is its sender.
func (s *stream) authRequest(out *dpi.Output, result events.AuthResult, reason string) {
	rq := &s.assoc.rq
	out.Auths = append(out.Auths, events.Auth{
		Client: rq.Endpoint(dpi.Sender), Server: rq.Endpoint(dpi.Receiver), VLAN: rq.VLAN,
		Protocol: Protocol, Method: "ae-title", Principal: s.assoc.calling,
		Result: result, Reason: reason, FlowID: rq.FlowID,
	})
}

// assocItem reads one variable item of an A-ASSOCIATE-RQ or -AC (PS3.8
// 9.3.2.1-9.3.3.3). b holds the whole item, header included.
func (s *stream) assocItem(p *dpi.Packet, typ byte, b []byte, out *dpi.Output) error {
	body := b[4:]
	switch {
	case b[0] == 0x20 && typ == pduAssociateRQ:
		// Presentation context: ID, 3 reserved bytes, then one abstract
		// syntax and transfer syntax sub-items.
		if len(body) < 4 {
			return malformed("presentation context item of %d bytes", len(body))
		}
		return walkSubItems(body[4:], func(t byte, v []byte) {
			if t == 0x30 {
				s.propose(trimUID(v))
			}
		})
	case b[0] == 0x21 && typ == pduAssociateAC:
		// Presentation context reply: ID, reserved, result, reserved,
		// then the accepted transfer syntax.
		if len(body) < 4 {
			return malformed("presentation context reply of %d bytes", len(body))
		}
		pc, result := body[0], body[2]
		return walkSubItems(body[4:], func(t byte, v []byte) {
			if t == 0x40 && result == 0 {
				s.assoc.ts[pc] = transferSyntax(trimUID(v))
			}
		})
	case b[0] == 0x50:
		ev := evRQ
		if typ == pduAssociateAC {
			ev = evAC
		}
		var err error
		walkErr := walkSubItems(body, func(t byte, v []byte) {
			switch t {
			case 0x52:
				if uid := dpi.Text(trimUID(v)); uid != "" {
					out.Observe(p, dpi.Sender, dpi.AttrDICOMImplClassUID, uid, Protocol, 0.95, ev+" implementation class UID")
				}
			case 0x55:
				if name := dpi.Text(v); name != "" {
					out.Observe(p, dpi.Sender, dpi.AttrDICOMImplVersion, name, Protocol, 0.95, ev+" implementation version name")
				}
			case 0x54:
				if typ == pduAssociateRQ {
					err = s.roleSelection(v)
				}
			case 0x58:
				if typ == pduAssociateRQ {
					userIdentity(p, v, out)
				}
			}
		})
		if walkErr != nil {
			return walkErr
		}
		return err
	}
	// Application context (0x10) and unknown items are not needed.
	return nil
}

// walkSubItems calls f with the type and value of each sub-item (type,
// reserved, 2-byte length, value) of b.
func walkSubItems(b []byte, f func(typ byte, v []byte)) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return malformed("sub-item header of %d bytes", len(b))
		}
		n := int(binary.BigEndian.Uint16(b[2:4]))
		if 4+n > len(b) {
			return malformed("sub-item 0x%02x of %d bytes overruns its item", b[0], n)
		}
		f(b[0], b[4:4+n])
		b = b[4+n:]
	}
	return nil
}

// propose records a proposed abstract syntax.
func (s *stream) propose(uid []byte) {
	a := &s.assoc
	if a.broad || len(uid) == 0 {
		return
	}
	for _, pr := range a.props {
		if pr.uid == string(uid) {
			return
		}
	}
	if len(a.props) == maxProposals {
		a.broad, a.props = true, nil
		return
	}
	a.props = append(a.props, proposal{uid: string(uid)})
}

// roleSelection reads an SCP/SCU role selection sub-item (PS3.7 D.3.3.4):
// UID length, UID, SCU role, SCP role.
func (s *stream) roleSelection(v []byte) error {
	if len(v) < 2 {
		return malformed("role selection of %d bytes", len(v))
	}
	n := int(binary.BigEndian.Uint16(v[0:2]))
	if 2+n+2 > len(v) {
		return malformed("role selection UID of %d bytes", n)
	}
	uid, scu := trimUID(v[2:2+n]), v[2+n]
	for i := range s.assoc.props {
		if s.assoc.props[i].uid == string(uid) {
			s.assoc.props[i].notSCU = scu == 0
		}
	}
	return nil
}

// userIdentity reports a user identity sub-item (PS3.7 D.3.3.7) as a
// credential sent in clear: its method, never its value.
func userIdentity(p *dpi.Packet, v []byte, out *dpi.Output) {
	if len(v) < 1 {
		return
	}
	var method string
	switch v[0] {
	case 1:
		method = "dicom user identity username"
	case 2:
		method = "dicom user identity username and passcode"
	case 4:
		method = "dicom user identity SAML assertion"
	case 5:
		method = "dicom user identity JSON web token"
	default:
		return // Kerberos tickets are not replayable secrets
	}
	out.Observe(p, dpi.Sender, dpi.AttrCleartextCredential, method, Protocol, 0.9, evRQ+" user identity sub-item")
}

// assocEnd publishes what needs the whole A-ASSOCIATE-RQ: the proposed
// abstract syntaxes and the modalities they hint at, unless the proposal
// is too broad to describe the device.
func (s *stream) assocEnd(p *dpi.Packet, typ byte, out *dpi.Output) {
	a := &s.assoc
	if typ != pduAssociateRQ || a.broad {
		return
	}
	var hints [maxModalityHints + 1]string
	nh := 0
	for _, pr := range a.props {
		sc := sopClasses[pr.uid]
		ev := evRQ + " proposed abstract syntax"
		if sc.name != "" {
			ev += " " + sc.name
		}
		out.Observe(p, dpi.Sender, dpi.AttrDICOMSOPClass, dpi.Text([]byte(pr.uid)), Protocol, 0.6, ev)
		if sc.modality == "" || pr.notSCU || nh > maxModalityHints {
			continue
		}
		dup := false
		for _, h := range hints[:nh] {
			dup = dup || h == sc.modality
		}
		if !dup {
			hints[nh] = sc.modality
			nh++
		}
	}
	if nh > maxModalityHints {
		return
	}
	for _, m := range hints[:nh] {
		for _, pr := range a.props {
			if sc := sopClasses[pr.uid]; sc.modality == m && !pr.notSCU {
				out.Observe(p, dpi.Sender, dpi.AttrDICOMModality, m, Protocol, modalityConfidence(m), evRQ+" proposed "+sc.name)
				break
			}
		}
	}
}

// modalityConfidence is the confidence of a modality inferred from a SOP
// class.
func modalityConfidence(m string) float64 {
	if weakModality(m) {
		return 0.4
	}
	return 0.6
}

// fixed reads the 4-byte body of an A-ASSOCIATE-RJ, A-RELEASE-RQ/RP or
// A-ABORT (PS3.8 9.3.4, 9.3.6-9.3.8).
func (s *stream) fixed(p *dpi.Packet, typ byte, b []byte, out *dpi.Output) {
	a := &s.assoc
	switch typ {
	case pduAssociateRJ:
		out.Count("dicom.rejections", 1)
		a.pending = false
		if b[2] == 1 && b[3] == 7 {
			a.called = "" // called AE title not recognized: not the acceptor's
		}
		s.publishCalled(out)
		s.authResponse(p, out, a.calling, events.AuthFailure, rejectReason(b[1], b[2], b[3]))
	case pduReleaseRQ:
		out.Count("dicom.release_rq", 1)
	case pduReleaseRP:
		out.Count("dicom.release_rp", 1)
	case pduAbort:
		out.Count("dicom.aborts", 1)
		if !a.pending {
			return
		}
		a.pending = false
		s.publishCalled(out)
		reason := "A-ABORT by the " + abortReason(b[2], b[3])
		if p.FromOrig == a.reqOrig {
			// The requester gave up: nothing was decided.
			s.authRequest(out, events.AuthUnknown, reason)
			return
		}
		s.authResponse(p, out, a.calling, events.AuthFailure, reason)
	}
}

// rejectReason renders the result, source and reason fields of an
// A-ASSOCIATE-RJ (PS3.8 table 9-21).
func rejectReason(result, source, reason byte) string {
	var r string
	switch source {
	case 1: // DICOM UL service-user
		switch reason {
		case 1:
			r = "no reason given"
		case 2:
			r = "application context name not supported"
		case 3:
			r = "calling AE title not recognized"
		case 7:
			r = "called AE title not recognized"
		}
	case 2: // DICOM UL service-provider, ACSE related function
		switch reason {
		case 1:
			r = "no reason given (ACSE)"
		case 2:
			r = "protocol version not supported"
		}
	case 3: // DICOM UL service-provider, presentation related function
		switch reason {
		case 1:
			r = "temporary congestion"
		case 2:
			r = "local limit exceeded"
		}
	}
	if r == "" {
		r = "source " + strconv.Itoa(int(source)) + " reason " + strconv.Itoa(int(reason))
	}
	if result == 2 {
		r += " (transient)"
	}
	return r
}

// abortReason renders the source and reason fields of an A-ABORT (PS3.8
// table 9-26).
func abortReason(source, reason byte) string {
	if source != 2 {
		return "service user"
	}
	switch reason {
	case 1:
		return "service provider: unrecognized PDU"
	case 2:
		return "service provider: unexpected PDU"
	case 4:
		return "service provider: unrecognized PDU parameter"
	case 5:
		return "service provider: unexpected PDU parameter"
	case 6:
		return "service provider: invalid PDU parameter value"
	}
	return "service provider"
}

// trimUID drops the NUL or space padding of a UID.
func trimUID(b []byte) []byte {
	return bytes.TrimRight(b, "\x00 ")
}
