package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vigil-health/vigil/events"
)

// EdgeQuery is the package whose alerts and enforce sets judge
// communication edges: who talks to whom on which service, whatever the
// baseline learned ("the guest VLAN never reaches the PACS"). A policy
// set without rules there evaluates no edge.
const EdgeQuery = "data.vigil.edge"

// EdgeKind is the input kind of an edge decision.
const EdgeKind events.Kind = "edge"

// Edge is the body of an edge input: one originator talking to one
// responder service, as the first flow event of that edge showed it.
type Edge struct {
	// Device is the originator's device key.
	Device string `json:"device"`
	// Orig is the originator (MAC and IP), Resp the responder with the
	// server port.
	Orig events.Endpoint `json:"orig"`
	Resp events.Endpoint `json:"resp"`
	VLAN uint16          `json:"vlan,omitempty"`
	// Transport, Port and AppProto name the service.
	Transport string `json:"transport"`
	Port      uint16 `json:"port,omitempty"`
	AppProto  string `json:"app_proto,omitempty"`
	// Established is false for attempts that were never answered.
	Established bool `json:"established"`
	// FlowID is the flow that showed the edge first.
	FlowID string `json:"flow_id"`
}

// EdgeOf returns the edge a flow uses.
func EdgeOf(f events.Flow) Edge {
	return Edge{
		Device: events.DeviceKey(f.Orig.MAC, f.Orig.IP, f.VLAN),
		Orig:   events.Endpoint{MAC: f.Orig.MAC, IP: f.Orig.IP}, Resp: f.Resp, VLAN: f.VLAN,
		Transport: f.Transport, Port: f.Resp.Port, AppProto: f.AppProto,
		Established: f.Transport != "tcp" || (f.RespPackets > 0 && f.State != "REJ" && f.State != "S0"),
		FlowID:      f.FlowID,
	}
}

// edgeKey identifies an edge in the decision cache: everything a policy
// can see of it except the flow that showed it (devices behind a router
// share its MAC, so both addresses are part of it).
type edgeKey struct {
	device, origIP, respIP, respMAC, transport, appProto string
	vlan, port                                           uint16
	established                                          bool
}

func (e Edge) key() edgeKey {
	return edgeKey{device: e.Device, origIP: e.Orig.IP, respIP: e.Resp.IP, respMAC: e.Resp.MAC, transport: e.Transport,
		appProto: e.AppProto, vlan: e.VLAN, port: e.Port, established: e.Established}
}

// edgeInput is the input document of an edge evaluation: shaped as an
// event, so that policies read input.time and input.body as they do for
// deviations.
type edgeInput struct {
	Version string        `json:"version"`
	Kind    events.Kind   `json:"kind"`
	ID      string        `json:"id"`
	Time    time.Time     `json:"time"`
	Source  events.Source `json:"source"`
	Body    Edge          `json:"body"`
}

// maxEdgeCache bounds the edges remembered per policy revision; past it
// the cache starts again (counted), so an edge may be decided twice.
const maxEdgeCache = 1 << 18

// edgeCache remembers the edges decided under one policy revision, so
// that the cost of edge policies follows the number of edges, not of
// flows or packets.
type edgeCache struct {
	mu       sync.Mutex
	revision string
	seen     map[edgeKey]struct{}
	hits     uint64
	resets   uint64
}

// first reports whether the edge is new for revision, remembering it.
func (c *edgeCache) first(revision string, key edgeKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.revision != revision || c.seen == nil {
		c.revision, c.seen = revision, map[edgeKey]struct{}{}
	}
	if _, ok := c.seen[key]; ok {
		c.hits++
		return false
	}
	if len(c.seen) >= maxEdgeCache {
		c.seen = map[edgeKey]struct{}{}
		c.resets++
	}
	c.seen[key] = struct{}{}
	return true
}

// forget removes an edge whose decision could not be made, so that it is
// decided again.
func (c *edgeCache) forget(revision string, key edgeKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.revision == revision {
		delete(c.seen, key)
	}
}

// EdgeStats counts the edge decisions' cache.
type EdgeStats struct {
	// Cached is the number of edges remembered for the revision in use;
	// Hits the flows that needed no evaluation; Resets the times the
	// cache was full and started again.
	Cached int    `json:"cached"`
	Hits   uint64 `json:"hits"`
	Resets uint64 `json:"resets"`
}

// EdgeStats returns the edge cache's counters.
func (e *Engine) EdgeStats() EdgeStats {
	e.edges.mu.Lock()
	defer e.edges.mu.Unlock()
	return EdgeStats{Cached: len(e.edges.seen), Hits: e.edges.hits, Resets: e.edges.resets}
}

// HasEdgePolicies reports whether the policy set in use judges edges.
func (e *Engine) HasEdgePolicies() bool {
	s := e.current.Load()
	return s != nil && s.edge != nil
}

// ErrEdgeCached is returned by EvaluateEdge for an edge already decided
// under the policy revision in use: there is nothing to publish.
var ErrEdgeCached = errors.New("edge already decided under this policy revision")

// EvaluateEdge decides the edge of one flow event with the edge policies
// (EdgeQuery), once per edge and policy revision: a flow on an edge
// already decided returns ErrEdgeCached. The decision's input is the edge
// document (kind "edge", the flow event's ID and time); alerts carry the
// flow event's ID as their cause (DeviationID) and the originator as
// device. Without edge policies it returns ErrEdgeCached too.
func (e *Engine) EvaluateEdge(ctx context.Context, ev events.Event[events.Flow]) (events.Event[events.Decision], []events.Event[events.Alert], error) {
	set := e.current.Load()
	if set == nil {
		return events.Event[events.Decision]{}, nil, errors.New("evaluate edge: no policy loaded")
	}
	if set.edge == nil {
		return events.Event[events.Decision]{}, nil, ErrEdgeCached
	}
	edge := EdgeOf(ev.Body)
	key := edge.key()
	if !e.edges.first(set.revision, key) {
		return events.Event[events.Decision]{}, nil, ErrEdgeCached
	}
	dec, alerts, err := e.decideEdge(ctx, set, ev.ID, ev.Time, edge)
	if err != nil {
		e.edges.forget(set.revision, key)
	}
	return dec, alerts, err
}

// EvaluateEdgeInput decides one edge input document (as `vigil policy
// eval` reads it), bypassing the cache.
func (e *Engine) EvaluateEdgeInput(ctx context.Context, id string, at time.Time, edge Edge) (events.Event[events.Decision], []events.Event[events.Alert], error) {
	set := e.current.Load()
	if set == nil {
		return events.Event[events.Decision]{}, nil, errors.New("evaluate edge: no policy loaded")
	}
	if set.edge == nil {
		return events.Event[events.Decision]{}, nil, fmt.Errorf("evaluate edge: no policy defines %s.alerts or %s.enforce", EdgeQuery, EdgeQuery)
	}
	return e.decideEdge(ctx, set, id, at, edge)
}

func (e *Engine) decideEdge(ctx context.Context, set *policySet, id string, at time.Time, edge Edge) (events.Event[events.Decision], []events.Event[events.Alert], error) {
	payload, err := json.Marshal(edgeInput{Version: events.Version, Kind: EdgeKind, ID: id,
		Time: at.UTC(), Source: e.source, Body: edge})
	if err != nil {
		return events.Event[events.Decision]{}, nil, fmt.Errorf("evaluate edge: %w", err)
	}
	sum := sha256.Sum256(payload)
	alerts, enforce, problems, err := e.decide(ctx, *set.edge, EdgeQuery, payload)
	if err != nil {
		return events.Event[events.Decision]{}, nil, err
	}
	dec := events.Decision{
		Query: EdgeQuery, Revision: set.revision, InputKind: EdgeKind, InputID: id,
		InputHash: hex.EncodeToString(sum[:]), Device: edge.Device,
		Alerts: len(alerts), Enforce: enforce, Error: strings.Join(problems, "; "),
	}
	decEv, err := events.NewEvent(at, e.source, dec)
	if err != nil {
		return events.Event[events.Decision]{}, nil, fmt.Errorf("evaluate edge: %w", err)
	}
	out := make([]events.Event[events.Alert], 0, len(alerts))
	for _, a := range alerts {
		a.Device = events.DeviceSnapshot{Key: edge.Device, MAC: edge.Orig.MAC, VLAN: edge.VLAN}
		if edge.Orig.IP != "" {
			a.Device.IPs = []string{edge.Orig.IP}
		}
		p := edge.Resp
		a.Peer = &p
		a.DeviationID, a.DecisionID, a.PolicyRevision = id, decEv.ID, set.revision
		alertEv, err := events.NewEvent(at, e.source, a)
		if err != nil {
			return events.Event[events.Decision]{}, nil, fmt.Errorf("evaluate edge: %w", err)
		}
		out = append(out, alertEv)
	}
	return decEv, out, nil
}
