package detection

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// RigTruth is detect.json, written by rig/detect.sh beside its capture:
// the phases of the recording and the anomalies it injected, with the
// times the rig's clock (the capture's) read around each.
type RigTruth struct {
	Schema  int    `json:"schema"`
	Capture string `json:"capture"`
	// LAN is the rig's network (documentation space, not private: it
	// must be given as networks.local).
	LAN string `json:"lan"`
	// LearnS is the learning window the recording was made for, in
	// seconds from its first flow: the normal phase outlasts it, so that
	// normal traffic is judged too.
	LearnS float64 `json:"learn_s"`
	// NormalStart and NormalEnd bound the normal phase; the anomalies
	// follow it.
	NormalStart time.Time    `json:"normal_start"`
	NormalEnd   time.Time    `json:"normal_end"`
	Rounds      int          `json:"rounds"`
	Anomalies   []RigAnomaly `json:"anomalies"`
}

// RigAnomaly is one anomaly the rig injected.
type RigAnomaly struct {
	Name string `json:"name"`
	// Kind is internet, scan, new_peer or brute_force.
	Kind   string    `json:"kind"`
	Device string    `json:"device"` // the misbehaving device's address
	Peers  []string  `json:"peers,omitempty"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	// Tool says what produced it ("nmap -sS ...", "curl ...").
	Tool string `json:"tool"`
}

// rigRules are the rules that detect each kind the rig injects.
var rigRules = map[string][]string{
	"internet":    {RuleInternet},
	"scan":        {RuleScan},
	"new_peer":    {RuleNewPeer, RuleLifePeer},
	"brute_force": {RuleAuthBurst},
}

// RigCase reads a detection recording of the rig.
func RigCase(dir string) (Case, error) {
	b, err := os.ReadFile(filepath.Join(dir, "detect.json"))
	if err != nil {
		return Case{}, fmt.Errorf("rig detection recording: %w", err)
	}
	var t RigTruth
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return Case{}, fmt.Errorf("rig detection recording: detect.json: %w", err)
	}
	if t.Schema != 1 {
		return Case{}, fmt.Errorf("rig detection recording: detect.json schema %d, want 1", t.Schema)
	}
	if t.LearnS <= 0 || len(t.Anomalies) == 0 || t.LAN == "" {
		return Case{}, fmt.Errorf("rig detection recording: detect.json has no learning window, no LAN or no anomaly")
	}
	c := Case{
		Name: fmt.Sprintf("rig (%d normal rounds, %d anomalies)", t.Rounds, len(t.Anomalies)), Source: "rig",
		Captures: []string{filepath.Join(dir, t.Capture)},
		Learn:    time.Duration(t.LearnS * float64(time.Second)),
		Local:    []string{t.LAN},
	}
	for _, a := range t.Anomalies {
		rules, ok := rigRules[a.Kind]
		if !ok {
			return Case{}, fmt.Errorf("rig detection recording: anomaly %q: unknown kind %q", a.Name, a.Kind)
		}
		c.Anomalies = append(c.Anomalies, Anomaly{
			Name: a.Name, Device: a.Device, Peers: a.Peers, Rules: rules, Start: a.Start, End: a.End,
			Oracle: "rig/detect.sh: " + a.Tool,
		})
	}
	return c, nil
}
