package baseline

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/netclass"
)

// Attribute names read here (capture/dpi/attributes.go is the vocabulary;
// the baseline does not import the sensor).
const (
	attrInsecureProtocol    = "insecure_protocol"
	attrCleartextCredential = "cleartext_credential"
	attrSerial              = "serial"
)

// identityAttrs are the attributes whose change is an identity_change;
// the versioned ones are compared as versions so that a downgrade is
// named.
var identityAttrs = map[string]bool{
	"firmware_version": true, "software_version": true, "hardware_version": true,
	"model": true, "serial": true, "vendor": true,
}

var versionedAttrs = map[string]bool{"firmware_version": true, "software_version": true, "hardware_version": true}

// maxIdentSources bounds the identity facts remembered per device: one
// per (attribute, protocol, address) source.
const maxIdentSources = 16

// identSource is the latest value one source (a protocol, at one address:
// devices behind a router share its MAC) reported for an identity
// attribute.
type identSource struct {
	attr, protocol, ip string
	value              string
	confidence         float64
}

// judgeAttribute raises the deviations an observation causes. Facts
// about an address outside the monitored network (an internet server
// seen behind the router's MAC) or a group address describe no device
// here and are not judged.
func (m *Model) judgeAttribute(d *device, ev events.Event[events.Observation], emit func(events.Deviation)) {
	if o := ev.Body; netclass.IsGroupMAC(o.MAC) || o.IP != "" && !m.isLocal(events.Endpoint{MAC: o.MAC, IP: o.IP}) {
		return
	}
	switch a := ev.Body.Attribute; {
	case a == attrInsecureProtocol || a == attrCleartextCredential:
		m.insecure(d, ev, emit)
	case identityAttrs[a]:
		m.identity(d, ev, emit)
	}
}

// evidence is the flow that carried an observation, or the observation
// itself when it came from no flow.
func evidence(ev events.Event[events.Observation]) []string {
	if ev.Body.FlowID != "" {
		return []string{ev.Body.FlowID}
	}
	return []string{ev.ID}
}

// insecure raises insecure_protocol the first time a device is seen with
// each insecure protocol or cleartext credential, during learning too: it
// is a weakness of the device, not a departure from its habits, and
// learning it as normal would hide it for good. Baseline.Ready tells the
// policy whether learning was over.
func (m *Model) insecure(d *device, ev events.Event[events.Observation], emit func(events.Deviation)) {
	o := ev.Body
	value := strings.TrimSpace(o.Value)
	if value == "" {
		return
	}
	// An SNMPv1/v2c write (SetRequest) is administration in clear text,
	// a cause of its own next to the reads of the same version: the
	// dissector names the PDU in the evidence of the flow's first fact.
	if o.Attribute == attrInsecureProtocol && o.Protocol == "snmp" && strings.Contains(o.Evidence, "SetRequest") &&
		(value == "snmpv1" || value == "snmpv2c") {
		value += " write"
	}
	var summary string
	if o.Attribute == attrCleartextCredential {
		summary = fmt.Sprintf("%s sent or accepted a credential in clear text: %s (%s, %s).", d.label(), value, o.Protocol, o.Evidence)
	} else {
		summary = fmt.Sprintf("%s uses insecure protocol %s (%s, %s).", d.label(), value, o.Protocol, o.Evidence)
	}
	m.raise(d, "insecure|"+o.Attribute+"|"+value, events.Deviation{
		Type: events.DeviationInsecureProtocol, Device: m.snapshot(d),
		AppProto: o.Protocol, Attribute: o.Attribute, Value: value,
		Summary: summary, Baseline: m.context(d, ev.Time), Evidence: evidence(ev),
	}, emit)
}

// identity compares an identity fact with the previous value of the same
// source and raises identity_change when it changed (once per device,
// attribute and pair of values), during learning too. A report less
// confident than the value it would replace is ignored, as the inventory
// does. A serial number is also checked against the other devices.
func (m *Model) identity(d *device, ev events.Event[events.Observation], emit func(events.Deviation)) {
	o := ev.Body
	value := strings.TrimSpace(o.Value)
	if value == "" {
		return
	}
	if o.Attribute == attrSerial {
		m.serialConflict(d, ev, value, emit)
	}
	i := slices.IndexFunc(d.identities, func(s identSource) bool {
		return s.attr == o.Attribute && s.protocol == o.Protocol && s.ip == o.IP
	})
	if i < 0 {
		if len(d.identities) >= maxIdentSources {
			m.identitiesDropped++
			return
		}
		d.identities = append(d.identities, identSource{attr: o.Attribute, protocol: o.Protocol, ip: o.IP, value: value, confidence: o.Confidence})
		return
	}
	s := &d.identities[i]
	if s.value == value {
		s.confidence = max(s.confidence, o.Confidence)
		return
	}
	if o.Confidence < s.confidence-0.05 {
		return
	}
	old := s.value
	s.value, s.confidence = value, o.Confidence
	change, verb, note := events.IdentityChanged, "changed", ""
	if versionedAttrs[o.Attribute] && hasDigit(old) && hasDigit(value) {
		switch c := compareVersions(value, old); {
		case c < 0:
			change, verb, note = events.IdentityDowngrade, "downgraded", "; a downgrade can bring back vulnerabilities the newer version fixed"
		case c > 0:
			change, verb = events.IdentityUpgrade, "upgraded"
		}
	}
	m.raise(d, "identity|"+o.Attribute+"|"+old+"|"+value, events.Deviation{
		Type: events.DeviationIdentityChange, Device: m.snapshot(d), AppProto: o.Protocol,
		Attribute: o.Attribute, Value: value, Previous: old, Change: change,
		Summary: fmt.Sprintf("%s: %s %s from %s to %s (%s)%s.", d.label(), o.Attribute, verb,
			strconv.Quote(old), strconv.Quote(value), o.Protocol, note),
		Baseline: m.context(d, ev.Time), Evidence: evidence(ev),
	}, emit)
}

// serialConflict raises identity_change (conflict) when a device presents
// a serial number another device presented first. The registry holds at
// most MaxDevices serials. Placeholder serials ("0", "unknown", "N/A",
// one repeated character) are ignored.
func (m *Model) serialConflict(d *device, ev events.Event[events.Observation], serial string, emit func(events.Deviation)) {
	if placeholderSerial(serial) {
		return
	}
	owner, ok := m.serials[serial]
	if !ok {
		if len(m.serials) < m.cfg.MaxDevices {
			m.serials[serial] = d.key
		} else {
			m.identitiesDropped++
		}
		return
	}
	other := m.devices[owner]
	if owner == d.key || other == nil {
		return
	}
	peer := &events.Endpoint{MAC: other.mac}
	if len(other.ips) > 0 {
		peer.IP = other.ips[0]
	}
	m.raise(d, "conflict|serial|"+serial, events.Deviation{
		Type: events.DeviationIdentityChange, Device: m.snapshot(d), Peer: peer, PeerCategory: m.peerCategory(other),
		AppProto: ev.Body.Protocol, Attribute: attrSerial, Value: serial, Change: events.IdentityConflict,
		Summary: fmt.Sprintf("%s presents serial number %s, already presented by %s (%s): a clone, a spoofed identity, or one device with two interfaces (%s).",
			d.label(), strconv.Quote(serial), other.label(), other.key, ev.Body.Protocol),
		Baseline: m.context(d, ev.Time), Evidence: evidence(ev),
	}, emit)
}

func placeholderSerial(s string) bool {
	if len(s) < 4 {
		return true
	}
	switch strings.ToLower(s) {
	case "unknown", "none", "null", "n/a", "default", "serial", "not available", "not specified", "to be filled by o.e.m.":
		return true
	}
	return strings.Trim(s, s[:1]) == ""
}

func hasDigit(s string) bool { return strings.ContainsFunc(s, unicode.IsDigit) }

// compareVersions compares dotted versions numerically where both parts
// are numbers ("2.10" > "2.9"), textually otherwise (as the inventory
// does).
func compareVersions(a, b string) int {
	pa := strings.FieldsFunc(a, isVersionSep)
	pb := strings.FieldsFunc(b, isVersionSep)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, ea := strconv.Atoi(pa[i])
		nb, eb := strconv.Atoi(pb[i])
		if ea == nil && eb == nil {
			if c := cmp.Compare(na, nb); c != 0 {
				return c
			}
			continue
		}
		if c := cmp.Compare(pa[i], pb[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(pa), len(pb))
}

func isVersionSep(r rune) bool { return r == '.' || r == '-' || r == '_' || r == ' ' || r == '/' }
