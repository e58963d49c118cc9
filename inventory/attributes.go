package inventory

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-health/vigil/events"
)

// Attribute is one known fact about a device: the resolved value and every
// source that reported a value for it.
type Attribute struct {
	Name string `json:"name"`
	// Value is the resolved value: from the source with the highest
	// confidence, then the highest protocol priority, then the most recent.
	Value      string    `json:"value"`
	Protocol   string    `json:"protocol"`
	Confidence float64   `json:"confidence"`
	Evidence   string    `json:"evidence"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	// EventIDs are the observation events behind the resolved value (at
	// most maxEventIDs, the first ones).
	EventIDs []string `json:"event_ids,omitempty"`
	// Sources are all values reported: for a single-valued attribute the
	// latest value of each protocol, for a multi-valued one (AE titles,
	// services, DNS names) each value of each protocol.
	Sources []AttributeSource `json:"sources"`
}

// AttributeSource is what one protocol reported for an attribute.
type AttributeSource struct {
	Protocol   string    `json:"protocol"`
	Value      string    `json:"value"`
	Confidence float64   `json:"confidence"`
	Evidence   string    `json:"evidence"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	EventIDs   []string  `json:"event_ids,omitempty"`
	// IP is the address the fact was observed with, so that facts first
	// taken for a router's can be given back to the device behind it.
	IP string `json:"ip,omitempty"`
}

const (
	maxEventIDs     = 8
	maxMultiSources = 32
)

// multiValued attributes hold several values at once; the others have
// one true value per device, and a change of it is an event.
var multiValued = map[string]bool{
	"dicom.ae_title": true, "dicom.sop_class": true, "dicom.role": true,
	"hl7.message_type": true, "hl7.receiving_application": true, "hl7.receiving_facility": true,
	"mdns.service": true, "mdns.txt": true, "dns.query": true, "ntp.server": true,
	"tls.sni": true, "tls.ja4": true, "tls.version": true, "http.host": true, "http.user_agent": true,
	"ssh.banner": true, "ssh.hassh": true, "insecure_protocol": true, "cleartext_credential": true,
	"lldp.management_address": true, "ssdp.usn": true, "smb.dialect": true, "dhcp.requested_ip": true,
}

// quiet multi-valued attributes change too often to be worth a change
// event for every new value.
var quiet = map[string]bool{
	"dns.query": true, "tls.sni": true, "tls.ja4": true, "http.host": true, "http.user_agent": true,
	"mdns.txt": true, "dhcp.requested_ip": true, "ntp.server": true, "tls.version": true,
}

// versioned attributes are compared as versions, so a downgrade is named.
var versioned = map[string]bool{
	"firmware_version": true, "software_version": true, "hardware_version": true,
	"dicom.implementation_version": true, "hl7.version": true,
}

// protocolPriority breaks confidence ties: a device's own statement in a
// management or clinical protocol beats a banner, which beats an
// inference from a fingerprint or the MAC registry; the asset register is
// a person's statement, used when traffic says nothing.
func protocolPriority(protocol string) int {
	switch protocol {
	case "dicom", "poct1a", "lldp", "cdp", "snmp", "dhcp", "dhcpv6", "bacnet", "enip", "modbus", "hl7":
		return 3
	case "fingerprint", "oui":
		return 1
	case "register":
		return 0
	}
	return 2
}

func (d *Device) attribute(name string) *Attribute {
	i, found := slices.BinarySearchFunc(d.Attributes, name, func(a Attribute, n string) int { return cmp.Compare(a.Name, n) })
	if !found {
		return nil
	}
	return &d.Attributes[i]
}

// setAttr records a value of attribute name from protocol and resolves
// the attribute. It returns the change to publish, if any.
func (m *Model) setAttr(d *Device, name, value, protocol string, confidence float64, evidence string, at time.Time, eventID, ip string) (events.DeviceChange, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return events.DeviceChange{}, false
	}
	i, found := slices.BinarySearchFunc(d.Attributes, name, func(a Attribute, n string) int { return cmp.Compare(a.Name, n) })
	if !found {
		d.Attributes = slices.Insert(d.Attributes, i, Attribute{Name: name})
	}
	a := &d.Attributes[i]
	multi := multiValued[name]
	src := AttributeSource{Protocol: protocol, Value: value, Confidence: confidence, Evidence: evidence, FirstSeen: at, LastSeen: at, IP: ip}
	if eventID != "" {
		src.EventIDs = []string{eventID}
	}
	// A single-valued attribute keeps the latest value of each protocol
	// at each address (a device behind a router shares the router's MAC
	// until the router is recognised); a multi-valued one each value.
	j := slices.IndexFunc(a.Sources, func(s AttributeSource) bool {
		if multi {
			return s.Protocol == protocol && s.Value == value
		}
		return s.Protocol == protocol && s.IP == ip
	})
	newValue := j < 0
	switch {
	case j < 0:
		a.Sources = append(a.Sources, src)
		if multi && len(a.Sources) > maxMultiSources {
			// Forget the value seen least recently.
			k := 0
			for x := range a.Sources {
				if a.Sources[x].LastSeen.Before(a.Sources[k].LastSeen) {
					k = x
				}
			}
			a.Sources = slices.Delete(a.Sources, k, k+1)
		}
	case a.Sources[j].Value == value:
		s := &a.Sources[j]
		if at.After(s.LastSeen) {
			s.LastSeen = at
		}
		s.Confidence = max(s.Confidence, confidence)
		if eventID != "" && len(s.EventIDs) < maxEventIDs {
			s.EventIDs = append(s.EventIDs, eventID)
		}
	case confidence < a.Sources[j].Confidence-0.05:
		// A weaker report of the same protocol does not replace a
		// stronger one.
		return events.DeviceChange{}, false
	default:
		// The same protocol now reports another value: an update (new
		// firmware, a renamed host). The source's history restarts.
		a.Sources[j] = src
		newValue = true
	}
	old := a.Value
	resolve(a)
	d.dirty = d.dirty || newValue && m.reads(d, name)
	switch {
	case !found && !multi:
		return events.DeviceChange{Change: events.ChangeAttribute, Attribute: name, New: a.Value,
			Evidence: ids(eventID), Summary: name + " is " + quote(a.Value) + " (" + a.Protocol + ")"}, eventID != ""
	case multi && newValue && !quiet[name]:
		return events.DeviceChange{Change: events.ChangeAttribute, Attribute: name, New: value,
			Evidence: ids(eventID), Summary: name + " " + quote(value) + " seen (" + protocol + ")"}, eventID != ""
	case !multi && old != a.Value:
		summary := name + " changed from " + quote(old) + " to " + quote(a.Value) + " (" + a.Protocol + ")"
		if versioned[name] {
			switch c := compareVersions(a.Value, old); {
			case c < 0:
				summary = name + " downgraded from " + quote(old) + " to " + quote(a.Value) + " (" + a.Protocol + ")"
			case c > 0:
				summary = name + " upgraded from " + quote(old) + " to " + quote(a.Value) + " (" + a.Protocol + ")"
			}
		}
		return events.DeviceChange{Change: events.ChangeAttribute, Attribute: name, Old: old, New: a.Value,
			Evidence: ids(eventID), Summary: summary}, true
	}
	return events.DeviceChange{}, false
}

func ids(id string) []string {
	if id == "" {
		return nil
	}
	return []string{id}
}

func quote(s string) string { return strconv.Quote(s) }

// resolve picks the attribute's value among its sources.
func resolve(a *Attribute) {
	best := 0
	for i := 1; i < len(a.Sources); i++ {
		if better(a.Sources[i], a.Sources[best]) {
			best = i
		}
	}
	s := a.Sources[best]
	if a.Value != s.Value || a.Protocol != s.Protocol {
		a.FirstSeen = s.FirstSeen
	}
	a.Value, a.Protocol, a.Confidence, a.Evidence = s.Value, s.Protocol, s.Confidence, s.Evidence
	a.LastSeen, a.EventIDs = s.LastSeen, s.EventIDs
}

func better(x, y AttributeSource) bool {
	// Confidences within 0.05 are equal: dissectors' numbers are coarse.
	if cx, cy := int(x.Confidence*20+0.5), int(y.Confidence*20+0.5); cx != cy {
		return cx > cy
	}
	if px, py := protocolPriority(x.Protocol), protocolPriority(y.Protocol); px != py {
		return px > py
	}
	if !x.LastSeen.Equal(y.LastSeen) {
		return x.LastSeen.After(y.LastSeen)
	}
	return x.Value < y.Value
}

// compareVersions compares dotted versions numerically where both parts
// are numbers ("2.10" > "2.9"), textually otherwise.
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
