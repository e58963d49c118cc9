// Package snmp reads device facts and authentication outcomes from SNMP
// messages (RFC 1157, RFC 3416, RFC 3412/3414):
//
//   - the MIB-2 system group (sysDescr, sysObjectID, sysContact, sysName,
//     sysLocation) that an agent returns in responses or sends in traps,
//     about the agent;
//   - the use of SNMPv1/v2c, whose community string is a password sent in
//     clear: an insecure-protocol fact about the agent and a
//     cleartext-credential fact about both ends (the community itself is
//     never published, except that the well-known defaults are named);
//   - SNMPv3 responses served without authentication;
//   - authentication outcomes: a v1/v2c response proves the community was
//     accepted, an authenticated v3 response proves the user was, and a
//     v3 report of usmStatsUnknownUserNames, usmStatsWrongDigests,
//     usmStatsUnsupportedSecLevels or usmStatsDecryptionErrors is a
//     failure.
//
// The BER reader is hand-written and bounded; encrypted v3 payloads are
// not read. A walk repeats the same facts in every response: each fact
// and outcome is reported once per flow (again after an hour).
package snmp

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/events"
)

// Protocol is the Observation and Auth protocol name.
const Protocol = "snmp"

// PDU tags (context-specific, constructed).
const (
	pduGet      = 0xa0
	pduGetNext  = 0xa1
	pduResponse = 0xa2
	pduSet      = 0xa3
	pduTrapV1   = 0xa4
	pduGetBulk  = 0xa5
	pduInform   = 0xa6
	pduTrapV2   = 0xa7
	pduReport   = 0xa8
)

// Message versions.
const (
	version1  = 0
	version2c = 1
	version3  = 3
)

// Flow counters.
const (
	CounterRequests  = "snmp.requests"
	CounterResponses = "snmp.responses"
	CounterTraps     = "snmp.traps"
	CounterReports   = "snmp.reports"
)

// Errors returned for messages the dissector cannot read.
var (
	ErrVersion = errors.New("snmp: unknown version")
	ErrPDU     = errors.New("snmp: unknown PDU type")
)

// systemGroup maps the encoded OIDs of the MIB-2 system group scalars
// (1.3.6.1.2.1.1.N.0) to their attributes.
var systemGroup = []struct {
	oid      []byte
	attr     string
	evidence string
}{
	{[]byte{0x2b, 6, 1, 2, 1, 1, 1, 0}, dpi.AttrSNMPSysDescr, "sysDescr.0"},
	{[]byte{0x2b, 6, 1, 2, 1, 1, 2, 0}, dpi.AttrSNMPSysObjectID, "sysObjectID.0"},
	{[]byte{0x2b, 6, 1, 2, 1, 1, 4, 0}, dpi.AttrSNMPSysContact, "sysContact.0"},
	{[]byte{0x2b, 6, 1, 2, 1, 1, 5, 0}, dpi.AttrSNMPSysName, "sysName.0"},
	{[]byte{0x2b, 6, 1, 2, 1, 1, 6, 0}, dpi.AttrSNMPSysLocation, "sysLocation.0"},
}

// usmStats is the encoded prefix of the USM statistics counters
// (1.3.6.1.6.3.15.1.1.N.0) that a v3 report carries.
var usmStats = []byte{0x2b, 6, 1, 6, 3, 15, 1, 1}

// usmFailures names the report counters that mean an authentication
// failure. notInTimeWindows (2) and unknownEngineIDs (4) are the normal
// discovery steps of every v3 exchange.
var usmFailures = map[byte]string{
	1: "unsupported security level",
	3: "unknown user name",
	5: "wrong digest",
	6: "decryption error",
}

// Dissector reads SNMP messages. Its only state is the bounded record of
// facts already reported per flow; each capture worker needs its own.
type Dissector struct {
	seen recent
}

var _ dpi.Dissector = (*Dissector)(nil)

// New returns an SNMP dissector.
func New() *Dissector { return &Dissector{} }

// Name implements dpi.Dissector.
func (*Dissector) Name() string { return "snmp" }

// Protocols implements dpi.Dissector.
func (*Dissector) Protocols() []string { return []string{dpi.ProtoSNMP} }

// message is what one SNMP message says, as slices into the payload.
type message struct {
	version   int64
	community []byte
	flags     byte // v3 msgFlags: 1 auth, 2 priv, 4 reportable
	pduType   byte // 0 when the v3 scoped PDU is encrypted
	errStatus int64
	varbinds  []byte
}

// Dissect implements dpi.Dissector.
func (d *Dissector) Dissect(p *dpi.Packet, out *dpi.Output) error {
	var m message
	if err := parse(p.Payload, &m); err != nil {
		return err
	}
	switch m.pduType {
	case pduGet, pduGetNext, pduSet, pduGetBulk:
		out.Count(CounterRequests, 1)
	case pduResponse:
		out.Count(CounterResponses, 1)
	case pduTrapV1, pduTrapV2, pduInform:
		out.Count(CounterTraps, 1)
	case pduReport:
		out.Count(CounterReports, 1)
	}
	// The agent is the sender of responses, traps and informs, and of
	// reports; the receiver of requests.
	fromAgent := m.pduType == pduResponse || m.pduType == pduTrapV1 || m.pduType == pduTrapV2 ||
		m.pduType == pduInform || m.pduType == pduReport
	name := versionName(m.version)
	pdu := pduName(m.pduType)

	if m.version == version1 || m.version == version2c {
		credential := "snmp community"
		if c := string(m.community); c == "public" || c == "private" {
			credential = "snmp default community " + c
		}
		evidence := name + " " + pdu + " community"
		d.observe(p, out, dpi.Sender, dpi.AttrCleartextCredential, credential, 0.95, evidence)
		if fromAgent {
			// A request may go to an address where no agent listens: the
			// receiver is only known to exist when it is the manager
			// getting an answer or a notification.
			d.observe(p, out, dpi.Receiver, dpi.AttrCleartextCredential, credential, 0.95, evidence)
			// Both ends speak the obsolete version: the agent answers it
			// and the manager asked in it.
			d.observe(p, out, dpi.Sender, dpi.AttrInsecureProtocol, name, 0.95, name+" "+pdu)
			d.observe(p, out, dpi.Receiver, dpi.AttrInsecureProtocol, name, 0.95, name+" "+pdu)
		}
		if m.pduType == pduResponse {
			d.auth(p, out, "community", events.AuthSuccess, "")
		}
	}

	if m.version == version3 && m.pduType == pduResponse {
		if m.flags&1 == 0 {
			d.observe(p, out, dpi.Sender, dpi.AttrInsecureProtocol, "snmpv3 noauth", 0.95, "SNMPv3 Response without authentication")
		} else {
			d.auth(p, out, "usm", events.AuthSuccess, "")
		}
	}
	if m.version == version3 && m.pduType == pduReport {
		forEachVarbind(m.varbinds, func(oid []byte, _ byte, _ []byte) {
			if len(oid) == len(usmStats)+2 && bytes.HasPrefix(oid, usmStats) && oid[len(oid)-1] == 0 {
				if reason, ok := usmFailures[oid[len(usmStats)]]; ok {
					d.auth(p, out, "usm", events.AuthFailure, reason)
				}
			}
		})
	}

	if fromAgent && m.pduType != pduReport && m.errStatus == 0 {
		forEachVarbind(m.varbinds, func(oid []byte, tag byte, val []byte) {
			for _, s := range systemGroup {
				if !bytes.Equal(oid, s.oid) {
					continue
				}
				var v string
				switch {
				case s.attr == dpi.AttrSNMPSysObjectID && tag == tagOID:
					v = formatOID(val)
				case s.attr != dpi.AttrSNMPSysObjectID && tag == tagOctetString:
					v = dpi.Text(val)
				}
				if v == "" {
					return
				}
				evidence := name + " " + pdu + " " + s.evidence
				d.observe(p, out, dpi.Sender, s.attr, v, 0.95, evidence)
				if s.attr == dpi.AttrSNMPSysName {
					d.observe(p, out, dpi.Sender, dpi.AttrHostname, v, 0.7, evidence)
				}
			}
		})
	}
	return nil
}

// observe reports a fact unless it was already reported in the flow.
func (d *Dissector) observe(p *dpi.Packet, out *dpi.Output, side dpi.Side, attr, value string, confidence float64, evidence string) {
	// Key by the flow's end (originator or responder), so that a fact
	// about the manager read from its request and from the response it
	// gets counts once.
	end := byte(0)
	if (side == dpi.Sender) != p.FromOrig {
		end = 1
	}
	if d.seen.fresh(p.FlowID, p.Time, end, attr, value) {
		observe(out, p, side, attr, value, confidence, evidence)
	}
}

// observe is out.Observe, except that a device with a public address is
// keyed by that address alone: its packets reach the mirror port through
// a router and carry the router's MAC, which must not collect its facts.
// An all-zero source MAC (loopback captures, some test traces) keys
// nothing either.
func observe(out *dpi.Output, p *dpi.Packet, side dpi.Side, attr, value string, confidence float64, evidence string) {
	addr, mac := p.Src, p.SrcMAC
	if side == dpi.Receiver {
		addr, mac = p.Dst, p.DstMAC
	}
	if p.HasMAC && (public(addr) || mac == [6]byte{}) {
		q := *p
		q.HasMAC = false
		p = &q
	}
	out.Observe(p, side, attr, value, Protocol, confidence, evidence)
}

// cgnat is the shared address space of RFC 6598, private in practice.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// public reports whether a is a global unicast address outside the
// private (RFC 1918, RFC 4193) and shared ranges.
func public(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsGlobalUnicast() && !a.IsPrivate() && !cgnat.Contains(a)
}

// auth reports an authentication outcome of a message sent by the agent
// (the server) to the manager (the client), once per flow.
func (d *Dissector) auth(p *dpi.Packet, out *dpi.Output, method string, result events.AuthResult, reason string) {
	if !d.seen.fresh(p.FlowID, p.Time, 2, method, string(result)+reason) {
		return
	}
	out.Auths = append(out.Auths, events.Auth{
		Client: p.Endpoint(dpi.Receiver), Server: p.Endpoint(dpi.Sender), VLAN: p.VLAN,
		Protocol: Protocol, Method: method, Result: result, Reason: reason, FlowID: p.FlowID,
	})
}

// parse reads the message header and PDU header of b into m.
func parse(b []byte, m *message) error {
	msg, _, err := expect(b, tagSequence)
	if err != nil {
		return fmt.Errorf("message: %w", err)
	}
	if m.version, msg, err = integer(msg); err != nil {
		return fmt.Errorf("version: %w", err)
	}
	switch m.version {
	case version1, version2c:
		if m.community, msg, err = expect(msg, tagOctetString); err != nil {
			return fmt.Errorf("community: %w", err)
		}
	case version3:
		if msg, err = parseV3Header(msg, m); err != nil || m.flags&2 != 0 {
			return err // an encrypted scoped PDU says nothing more
		}
		scoped, _, err := expect(msg, tagSequence)
		if err != nil {
			return fmt.Errorf("scoped PDU: %w", err)
		}
		for range 2 { // contextEngineID, contextName
			if _, scoped, err = expect(scoped, tagOctetString); err != nil {
				return fmt.Errorf("scoped PDU: %w", err)
			}
		}
		msg = scoped
	default:
		return ErrVersion
	}
	tag, pdu, _, err := next(msg)
	if err != nil {
		return fmt.Errorf("PDU: %w", err)
	}
	if tag < pduGet || tag > pduReport {
		return ErrPDU
	}
	m.pduType = tag
	if tag == pduTrapV1 {
		// enterprise, agent-addr, generic-trap, specific-trap, time-stamp
		for range 5 {
			if _, _, pdu, err = next(pdu); err != nil {
				return fmt.Errorf("trap: %w", err)
			}
		}
	} else {
		if _, pdu, err = integer(pdu); err != nil { // request-id
			return fmt.Errorf("request-id: %w", err)
		}
		if m.errStatus, pdu, err = integer(pdu); err != nil {
			return fmt.Errorf("error-status: %w", err)
		}
		if _, pdu, err = integer(pdu); err != nil { // error-index
			return fmt.Errorf("error-index: %w", err)
		}
	}
	if m.varbinds, _, err = expect(pdu, tagSequence); err != nil {
		return fmt.Errorf("variable-bindings: %w", err)
	}
	return nil
}

// parseV3Header reads msgGlobalData and the security parameters of a v3
// message, returning what follows them (msgData).
func parseV3Header(msg []byte, m *message) ([]byte, error) {
	global, msg, err := expect(msg, tagSequence)
	if err != nil {
		return nil, fmt.Errorf("msgGlobalData: %w", err)
	}
	for range 2 { // msgID, msgMaxSize
		if _, global, err = integer(global); err != nil {
			return nil, fmt.Errorf("msgGlobalData: %w", err)
		}
	}
	flags, _, err := expect(global, tagOctetString)
	if err != nil || len(flags) != 1 {
		return nil, fmt.Errorf("msgFlags: %w", errors.Join(err, errBERTag))
	}
	m.flags = flags[0]
	// msgSecurityParameters: an OCTET STRING whatever the model.
	if _, msg, err = expect(msg, tagOctetString); err != nil {
		return nil, fmt.Errorf("msgSecurityParameters: %w", err)
	}
	return msg, nil
}

// forEachVarbind calls fn with the encoded name, value tag and value of
// each well-formed variable binding, stopping at the first malformed one.
func forEachVarbind(list []byte, fn func(oid []byte, tag byte, val []byte)) {
	for len(list) > 0 {
		vb, rest, err := expect(list, tagSequence)
		if err != nil {
			return
		}
		list = rest
		oid, vb, err := expect(vb, tagOID)
		if err != nil {
			return
		}
		tag, val, _, err := next(vb)
		if err != nil {
			return
		}
		fn(oid, tag, val)
	}
}

func versionName(v int64) string {
	switch v {
	case version1:
		return "snmpv1"
	case version2c:
		return "snmpv2c"
	}
	return "snmpv3"
}

func pduName(t byte) string {
	switch t {
	case pduGet:
		return "GetRequest"
	case pduGetNext:
		return "GetNextRequest"
	case pduResponse:
		return "Response"
	case pduSet:
		return "SetRequest"
	case pduTrapV1:
		return "Trap"
	case pduGetBulk:
		return "GetBulkRequest"
	case pduInform:
		return "InformRequest"
	case pduTrapV2:
		return "SNMPv2-Trap"
	case pduReport:
		return "Report"
	}
	return "encrypted PDU"
}

// recent remembers which facts were reported in which flow, so that the
// thousand responses of a walk report each fact once. It forgets a fact
// after an hour (long-lived flows are reported again) and forgets all
// when it holds too many.
type recent struct {
	m map[recentKey]time.Time
}

type recentKey struct {
	flow, attr, value string
	side              byte
}

const (
	recentMax   = 4096
	recentAfter = time.Hour
)

// fresh reports whether the fact was not reported in the flow within the
// last hour, and records it.
func (r *recent) fresh(flow string, now time.Time, side byte, attr, value string) bool {
	if r.m == nil {
		r.m = make(map[recentKey]time.Time)
	}
	k := recentKey{flow, attr, value, side}
	if at, ok := r.m[k]; ok && now.Sub(at) < recentAfter && !now.Before(at) {
		return false
	}
	if len(r.m) >= recentMax {
		clear(r.m)
	}
	r.m[k] = now
	return true
}
