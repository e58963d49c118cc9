package inventory

import (
	"net/netip"
	"slices"
)

// Org is where a device belongs in the hospital.
type Org struct {
	Site       string `json:"site,omitempty"`
	Segment    string `json:"segment,omitempty"`
	Department string `json:"department,omitempty"`
	Location   string `json:"location,omitempty"`
	// Source says what set it: "network" (the organisation map) or
	// "register" (the asset register, which names rooms and owners).
	Source string `json:"source,omitempty"`
}

// orgMap resolves the organisation of an address and VLAN.
type orgMap struct {
	cidrs []orgCIDR // longest prefix first
	vlans map[uint16]OrgRule
}

type orgCIDR struct {
	prefix netip.Prefix
	rule   OrgRule
}

func newOrgMap(rules []OrgRule) *orgMap {
	m := &orgMap{vlans: map[uint16]OrgRule{}}
	for _, r := range rules {
		if r.CIDR != "" {
			p, err := netip.ParsePrefix(r.CIDR)
			if err != nil {
				continue // Validate reported it
			}
			m.cidrs = append(m.cidrs, orgCIDR{p.Masked(), r})
			continue
		}
		if _, dup := m.vlans[r.VLAN]; !dup {
			m.vlans[r.VLAN] = r
		}
	}
	// Stable: among equal prefixes the first configured wins.
	slices.SortStableFunc(m.cidrs, func(a, b orgCIDR) int { return b.prefix.Bits() - a.prefix.Bits() })
	return m
}

// lookup returns the organisation of a device from its addresses (the
// most specific CIDR over all of them) or its VLAN.
func (m *orgMap) lookup(ips []netip.Addr, vlan uint16) (Org, bool) {
	for _, c := range m.cidrs {
		if c.rule.VLAN != 0 && c.rule.VLAN != vlan {
			continue
		}
		for _, ip := range ips {
			if c.prefix.Contains(ip) {
				return orgOf(c.rule), true
			}
		}
	}
	if r, ok := m.vlans[vlan]; ok && vlan != 0 {
		return orgOf(r), true
	}
	return Org{}, false
}

func orgOf(r OrgRule) Org {
	return Org{Site: r.Site, Segment: r.Segment, Department: r.Department, Location: r.Location, Source: "network"}
}
