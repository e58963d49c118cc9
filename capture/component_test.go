package capture

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-health/vigil/capture/protocols"
	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
)

type recorder struct {
	msgs []events.Message
	fail error
}

func (r *recorder) Publish(_ context.Context, m events.Message) error {
	if r.fail != nil {
		return r.fail
	}
	r.msgs = append(r.msgs, m)
	return nil
}

func runComponent(t *testing.T, pub Publisher, files ...string) (*Component, error) {
	t.Helper()
	cfg := DefaultConfiguration()
	cfg.Name, cfg.Site, cfg.Files = "test", "lab", files
	c, err := New(cfg, Dependencies{Publisher: pub, Dissectors: protocols.Dissectors})
	if err != nil {
		t.Fatal(err)
	}
	return c, c.Run(context.Background())
}

func TestComponentDHCPAndDeterminism(t *testing.T) {
	file := testshared.Pcap(t, "zeek_zeek/testing/btest/Traces/dhcp/dhcp.pcap")
	var ids [2][]string
	var obs []events.Observation
	var final events.Health
	for run := range 2 {
		rec := &recorder{}
		if _, err := runComponent(t, rec, file); err != nil {
			t.Fatal(err)
		}
		for _, m := range rec.msgs {
			ids[run] = append(ids[run], m.Meta().ID)
			if run == 0 {
				switch e := m.(type) {
				case events.Event[events.Observation]:
					obs = append(obs, e.Body)
				case events.Event[events.Health]:
					final = e.Body
				}
			}
		}
	}
	if diff := cmp.Diff(ids[0], ids[1]); diff != "" {
		t.Errorf("replay is not identical (-first +second):\n%s", diff)
	}
	if !final.Final || final.Packets == 0 {
		t.Errorf("last event is not a final health report: %+v", final)
	}
	attrs := map[string]string{}
	macs := map[string]bool{}
	for _, o := range obs {
		macs[o.MAC] = true
		if o.Protocol != "dhcp" || o.Device != events.DeviceKey(o.MAC, "", o.VLAN) || o.Evidence == "" || o.FlowID == "" {
			t.Errorf("malformed observation %+v", o)
		}
		attrs[o.Attribute] = o.Value
	}
	// The values of Zeek's dhcp.log for this trace (dhcp-all-msg-types).
	want := map[string]string{"hostname": "btest.is.cool", "dhcp.requested_ip": "128.2.6.189", "ip": "128.2.6.189"}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, attrs[k], v, attrs)
		}
	}
	if diff := cmp.Diff(map[string]bool{"90:b1:1c:99:49:29": true}, macs); diff != "" {
		t.Errorf("observed devices (-want +got):\n%s", diff)
	}
}

func TestComponentErrors(t *testing.T) {
	dir := t.TempDir()
	file := testshared.Pcap(t, "zeek_zeek/testing/btest/Traces/dhcp/dhcp.pcap")
	rec := &recorder{fail: errors.New("bus down")}
	c, err := runComponent(t, rec, file, filepath.Join(dir, "missing.pcap"))
	if err == nil {
		t.Fatal("no error for a missing file and a failing publisher")
	}
	st := c.Stats()
	if st.PublishErrors == 0 || st.SourceErrors != 1 {
		t.Errorf("stats %+v: want publish errors and one source error", st)
	}

	// Start/Done/Err.
	cfg := DefaultConfiguration()
	cfg.Files = []string{file}
	c, err = New(cfg, Dependencies{Publisher: &recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("capture did not finish")
	}
	if c.Err() != nil {
		t.Errorf("Err = %v", c.Err())
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Errorf("Stop = %v", err)
	}

	bad := DefaultConfiguration()
	bad.TCPTimeout, bad.MaxFlows = 0, -1
	if _, err := New(bad, Dependencies{Publisher: &recorder{}}); err == nil {
		t.Error("invalid configuration accepted")
	}
}
