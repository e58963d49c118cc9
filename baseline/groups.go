package baseline

import (
	"slices"
	"strings"
	"time"

	"github.com/vigil-health/vigil/events"
)

// Learning modes (Configuration.LearningMode).
const (
	LearnGlobal    = "global"
	LearnDevice    = "device"
	LearnConfirmed = "confirmed"
)

// A peer group is the devices of one model (vendor and model attributes,
// as DICOM, SNMP or DHCP report them) or, for devices without a model,
// of one category of the classification. Devices of a model are installed
// to do the same job, so an edge most of the ready members learned is
// normal for every member: a new infusion pump of a known model that
// talks to the pump server as its siblings do is not new behaviour.
//
// Membership is kept in an index (group key → members) that follows a
// device's key when its facts change; the support of an edge is counted
// over the members when a departure is judged, which is rare next to the
// flows learned, so nothing per edge is stored per group.
type group struct {
	members map[*device]struct{}
}

// regroup keeps the group index current for devices whose facts may have
// changed (every device is indexed as soon as it has a group, so that the
// index does not depend on which departures were judged).
func (m *Model) regroup(ds ...*device) {
	if m.cfg.PeerGroupMin == 0 {
		return
	}
	for _, d := range ds {
		if d != nil && d.groupStale {
			m.groupKey(d)
		}
	}
}

// groupKey returns d's peer group, "" when it has none, and moves d to
// that group in the index.
func (m *Model) groupKey(d *device) string {
	d.groupStale = false
	key := ""
	if model := strings.ToLower(strings.TrimSpace(d.attrs["model"])); model != "" {
		key = "model:" + strings.ToLower(strings.TrimSpace(d.attrs["vendor"])) + "/" + model
	} else if c := m.classification(d).Category; c != "" && c != "unknown" {
		key = "category:" + c
	}
	if key == d.group {
		return key
	}
	if g := m.groups[d.group]; g != nil {
		delete(g.members, d)
		if len(g.members) == 0 {
			delete(m.groups, d.group)
		}
	}
	d.group = key
	if key != "" {
		g := m.groups[key]
		if g == nil {
			g = &group{members: map[*device]struct{}{}}
			m.groups[key] = g
		}
		g.members[d] = struct{}{}
	}
	return key
}

// groupMayJudge says cheaply whether a learning device's group could be
// mature: peer groups on, the device in a group with enough other
// members, and the global window over (before, no member is ready unless
// a person confirmed it, and the mode is global).
func (m *Model) groupMayJudge(d *device) bool {
	if m.cfg.PeerGroupMin == 0 || d.group == "" {
		return false
	}
	if m.cfg.LearningMode == LearnGlobal && m.now.Before(m.LearningEnd()) && m.confirmed == 0 {
		return false
	}
	return len(m.groups[d.group].members)-1 >= m.cfg.PeerGroupMin
}

// groupSupport is what a device's peer group says about one departure.
type groupSupport struct {
	key     string
	members int // other members ready at the time
	support int // of which that learned the edge or service
}

// mature says whether the group has enough ready members to speak.
func (g groupSupport) mature(min int) bool { return g.key != "" && min > 0 && g.members >= min }

// set writes the group into a deviation's baseline context.
func (g groupSupport) set(c *events.BaselineContext) {
	if g.key == "" {
		return
	}
	c.PeerGroup, c.GroupMembers, c.GroupSupport = g.key, g.members, g.support
}

// peerSupport counts the other members of d's group that are ready at at
// and, of those, the ones for which has is true. It is called for
// departures about to be judged (rare next to the flows learned); a
// learning device reaches it only when groupMayJudge says its group could
// be mature.
func (m *Model) peerSupport(d *device, at time.Time, has func(*device) bool) groupSupport {
	if m.cfg.PeerGroupMin == 0 {
		return groupSupport{}
	}
	key := m.groupKey(d)
	if key == "" {
		return groupSupport{}
	}
	g := groupSupport{key: key}
	for o := range m.groups[key].members {
		if o == d || !m.ready(o, at) {
			continue
		}
		g.members++
		if has(o) {
			g.support++
		}
	}
	return g
}

// judged says whether a departure of d is raised. A ready device's
// departure is raised unless its peer group is mature (PeerGroupMin ready
// members) and at least PeerGroupSupport of them learned the same thing:
// then it is learned. A device still learning is judged only against a
// mature group, and raised when too few members do the same. Internet
// communication is raised for a ready device whatever its group does
// (the policies decide about vendor clouds), with the support attached.
func (m *Model) judged(d *device, ready bool, g groupSupport, typ events.DeviationType) bool {
	mature := g.mature(m.cfg.PeerGroupMin)
	supported := mature && float64(g.support) >= m.cfg.PeerGroupSupport*float64(g.members)
	switch {
	case ready && typ == events.DeviationInternet:
		return true
	case ready:
		return !supported
	default:
		return mature && !supported
	}
}

// GroupMemory is the memory of the device models of one peer group.
type GroupMemory struct {
	// Group is the peer group ("" for devices without one).
	Group   string `json:"group"`
	Devices int    `json:"devices"`
	// Bytes estimates the memory of the group's device models together,
	// MaxDeviceBytes that of the largest (bounded by max_edges_per_device).
	Bytes          int `json:"bytes"`
	MaxDeviceBytes int `json:"max_device_bytes"`
}

// MemoryByGroup reports the estimated memory of the device models per
// peer group (device model or category), largest first.
func (m *Model) MemoryByGroup() []GroupMemory {
	byGroup := map[string]*GroupMemory{}
	for _, d := range m.devices {
		g := byGroup[d.group]
		if g == nil {
			g = &GroupMemory{Group: d.group}
			byGroup[d.group] = g
		}
		b := d.memory()
		g.Devices++
		g.Bytes += b
		g.MaxDeviceBytes = max(g.MaxDeviceBytes, b)
	}
	out := make([]GroupMemory, 0, len(byGroup))
	for _, g := range byGroup {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b GroupMemory) int {
		if a.Bytes != b.Bytes {
			return b.Bytes - a.Bytes
		}
		return strings.Compare(a.Group, b.Group)
	})
	return out
}
