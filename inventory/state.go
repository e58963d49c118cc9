package inventory

import (
	"encoding/json"
	"fmt"
	"time"
)

// state is the serialised projection: everything the Model needs to
// continue exactly as if it had never stopped.
type state struct {
	Version   int                `json:"version"`
	Devices   []*Device          `json:"devices"`
	Holder    map[string]string  `json:"holder"`
	Open      map[string]openRec `json:"open"`
	Now       time.Time          `json:"now"`
	NextSweep time.Time          `json:"next_sweep"`
	Flows     uint64             `json:"flows"`
	Obs       uint64             `json:"observations"`
	Dropped   uint64             `json:"dropped"`
}

type openRec struct {
	PktO, PktR, ByteO, ByteR uint64
	Last                     time.Time
	App                      map[string]uint64 `json:",omitempty"`
}

const stateVersion = 1

// MarshalState serialises the projection for a checkpoint.
func (m *Model) MarshalState() ([]byte, error) {
	s := state{Version: stateVersion, Holder: m.holder, Open: map[string]openRec{}, Now: m.now, NextSweep: m.nextSweep,
		Flows: m.flows, Obs: m.observations, Dropped: m.dropped}
	for _, d := range m.Devices() {
		s.Devices = append(s.Devices, &d)
	}
	for k, c := range m.open {
		s.Open[k] = openRec{c.pktO, c.pktR, c.byteO, c.byteR, c.last, c.app}
	}
	return json.Marshal(s)
}

// RestoreState replaces the projection with a checkpoint's.
func (m *Model) RestoreState(b []byte) error {
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("inventory checkpoint: %w", err)
	}
	if s.Version != stateVersion {
		return fmt.Errorf("inventory checkpoint: version %d, this build reads %d", s.Version, stateVersion)
	}
	m.devices = make(map[string]*Device, len(s.Devices))
	m.byID = make(map[string]string, len(s.Devices))
	for _, d := range s.Devices {
		m.devices[d.Key] = d
		m.byID[d.ID] = d.Key
	}
	m.holder = s.Holder
	if m.holder == nil {
		m.holder = map[string]string{}
	}
	m.open = make(map[string]counted, len(s.Open))
	for k, o := range s.Open {
		m.open[k] = counted{o.PktO, o.PktR, o.ByteO, o.ByteR, o.Last, o.App}
	}
	m.now, m.nextSweep = s.Now, s.NextSweep
	m.flows, m.observations, m.dropped = s.Flows, s.Obs, s.Dropped
	return nil
}
