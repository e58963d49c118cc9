package web

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/inventory"
	"github.com/vigil-health/vigil/inventory/classify"
)

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

// departments of the synthetic hospital: one /16 each.
var departments = []string{"ICU", "Emergency", "Radiology", "Cardiology", "Oncology", "Laboratory", "Surgery", "Administration"}

// models is what the synthetic devices say about themselves: a hostname
// and, for some, a DHCP vendor class, which the shipped rules classify.
var models = []struct{ host, vendorClass string }{
	{"PUMP-%05d", ""},
	{"MON-%05d", "Philips Medical IntelliVue"},
	{"WS-%05d", "MSFT 5.0"},
	{"PHONE-%05d", "android-dhcp-13"},
	{"DEV-%05d", ""},
}

// syntheticInventory feeds a real inventory Model, with the shipped
// classification rules and an organisation map, the events of n devices:
// a DHCP hostname (and vendor class), then a flow to a server of its
// department. The same n gives the same inventory.
func syntheticInventory(tb testing.TB, n int) *inventory.Model {
	tb.Helper()
	rules, err := classify.Load()
	if err != nil {
		tb.Fatal(err)
	}
	cfg := inventory.DefaultConfiguration()
	cfg.OfflineAfter = 24 * time.Hour
	for i, d := range departments {
		cfg.Organisation = append(cfg.Organisation, inventory.OrgRule{CIDR: fmt.Sprintf("10.%d.0.0/16", 10+i), Site: "Main", Department: d})
	}
	m := inventory.NewModel(cfg, events.Source{Component: "inventory", Name: "test"}, inventory.Options{Classifier: rules})
	src := events.Source{Component: "sensor", Name: "ward"}
	for i := range n {
		dept := i % len(departments)
		mac := fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", dept, (i>>16)&0xff, (i>>8)&0xff, i&0xff)
		ip := fmt.Sprintf("10.%d.%d.%d", 10+dept, (i/250)%250, 1+i%250)
		at := t0.Add(time.Duration(i) * time.Millisecond)
		mdl := models[i%len(models)]
		obs := func(attr, value string) {
			m.ObserveAttribute(events.MustEvent(at, src, events.Observation{Device: events.DeviceKey(mac, "", 0), MAC: mac, IP: ip,
				Attribute: attr, Value: value, Protocol: "dhcp", Confidence: 0.9, Evidence: "DHCPREQUEST option 12"}))
		}
		obs("ip", ip)
		obs("hostname", fmt.Sprintf(mdl.host, i))
		if mdl.vendorClass != "" {
			obs("dhcp.vendor_class", mdl.vendorClass)
		}
		srv := "203.0.113.10" // the internet: not a device
		m.ObserveFlow(events.MustEvent(at.Add(time.Second), src, events.Flow{
			FlowID: fmt.Sprintf("f%d", i), Phase: events.FlowEnd, Start: at, Last: at.Add(time.Second), Transport: "tcp", AppProto: "tls",
			Orig: events.Endpoint{MAC: mac, IP: ip, Port: 40000}, Resp: events.Endpoint{MAC: "02:ff:00:00:00:01", IP: srv, Port: 443},
			OrigPackets: 10, RespPackets: 12, OrigBytes: uint64(1000 + i), RespBytes: 5000,
		}))
	}
	return m
}

// modelInventory serves a Model as the Inventory of the API, under a lock
// as the component does.
type modelInventory struct {
	mu sync.RWMutex
	m  *inventory.Model
}

func (mi *modelInventory) Devices() []inventory.Device {
	mi.mu.RLock()
	defer mi.mu.RUnlock()
	return mi.m.Devices()
}

func (mi *modelInventory) Select(q inventory.Query) inventory.Page {
	mi.mu.RLock()
	defer mi.mu.RUnlock()
	return mi.m.Select(q)
}

func (mi *modelInventory) Facets() inventory.Facets {
	mi.mu.RLock()
	defer mi.mu.RUnlock()
	return mi.m.Facets()
}

func (mi *modelInventory) Device(id string) (inventory.Device, bool) {
	mi.mu.RLock()
	defer mi.mu.RUnlock()
	return mi.m.Device(id)
}

func (mi *modelInventory) Stats() inventory.Stats {
	mi.mu.RLock()
	defer mi.mu.RUnlock()
	return mi.m.Stats()
}

// readPackageSources returns the package's Go files (tests excluded),
// concatenated.
func readPackageSources(t *testing.T) string {
	t.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		sb.Write(b)
	}
	return sb.String()
}
