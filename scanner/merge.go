package scanner

import (
	"slices"
	"strings"
)

// Device is what matching and exclusion need of an inventory device: the
// inventory's stable ID and what a scanner could know of it.
type Device struct {
	// ID is the inventory's stable ID, Key the device key of its events
	// (mac:<mac>/<vlan> or ip:<ip>/<vlan>).
	ID       string   `json:"id"`
	Key      string   `json:"key,omitempty"`
	VLAN     uint16   `json:"vlan,omitempty"`
	MAC      string   `json:"mac,omitempty"`
	IPs      []string `json:"ips,omitempty"` // current addresses
	Hostname string   `json:"hostname,omitempty"`
	// Category, Medical and Criticality are the inventory's
	// classification.
	Category    string `json:"category,omitempty"`
	Medical     bool   `json:"medical,omitempty"`
	Criticality string `json:"criticality,omitempty"`
}

// Unmatched is a scanned host that no inventory device could be matched
// to, reported rather than dropped.
type Unmatched struct {
	Host
	Findings int    `json:"findings"`
	Reason   string `json:"reason"`
}

// Merge assigns each finding the inventory device its host is: by MAC
// first (the identity the inventory is keyed by), then by hostname (short
// name, case-insensitive, only when one device carries it), then by a
// current address. A host whose MAC is known but differs from the device
// at its address is not merged by address: the address has moved to
// another device since the scan. It returns the findings with DeviceID
// and MatchedBy set where a device was found and the hosts that matched
// none.
func Merge(findings []Finding, devices []Device) ([]Finding, []Unmatched) {
	byMAC := map[string]*Device{}
	byIP := map[string]*Device{}
	byName := map[string][]*Device{}
	for i := range devices {
		d := &devices[i]
		if d.MAC != "" {
			byMAC[d.MAC] = d
		}
		for _, ip := range d.IPs {
			byIP[ip] = d
		}
		if n := shortName(d.Hostname); n != "" {
			byName[n] = append(byName[n], d)
		}
	}
	out := make([]Finding, len(findings))
	unmatched := map[string]*Unmatched{}
	var order []string
	for i, f := range findings {
		d, how, why := match(f, byMAC, byIP, byName)
		if d != nil {
			f.DeviceID, f.MatchedBy = d.ID, how
		} else {
			key := f.Host + "|" + f.MAC + "|" + f.Hostname
			u := unmatched[key]
			if u == nil {
				u = &Unmatched{Host: Host{Address: f.Host, MAC: f.MAC, Hostname: f.Hostname}, Reason: why}
				unmatched[key] = u
				order = append(order, key)
			}
			u.Findings++
		}
		out[i] = f
	}
	var um []Unmatched
	for _, k := range order {
		um = append(um, *unmatched[k])
	}
	return out, um
}

func match(f Finding, byMAC, byIP map[string]*Device, byName map[string][]*Device) (*Device, string, string) {
	mac := NormalizeMAC(f.MAC)
	if mac != "" {
		if d := byMAC[mac]; d != nil {
			return d, "mac", ""
		}
	}
	if n := shortName(f.Hostname); n != "" {
		switch ds := byName[n]; len(ds) {
		case 1:
			return ds[0], "hostname", ""
		case 0:
		default:
			if d := byIP[f.Host]; d != nil && slices.Contains(ds, d) {
				return d, "hostname", ""
			}
		}
	}
	if d := byIP[f.Host]; d != nil {
		if mac != "" && d.MAC != "" && d.MAC != mac {
			return nil, "", "address " + f.Host + " is now held by " + d.ID + " (MAC " + d.MAC + "), the scanner saw MAC " + mac
		}
		return d, "ip", ""
	}
	return nil, "", "no device with this MAC, hostname or current address"
}

// shortName is the first label of a host name, lower case; IP addresses
// are not names.
func shortName(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || strings.Trim(s, "0123456789.:") == "" {
		return ""
	}
	if i := strings.IndexByte(s, '.'); i > 0 {
		s = s[:i]
	}
	return s
}
