package inventory

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/inventory/classify"
)

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

const pump = "00:12:21:4e:0a:12"

func flow(sec int, phase events.FlowPhase, id, origMAC, origIP, respMAC, respIP string, pkts uint64) events.Event[events.Flow] {
	at := t0.Add(time.Duration(sec) * time.Second)
	return events.MustEvent(at, events.Source{Component: "sensor"}, events.Flow{
		FlowID: id, Phase: phase, Start: t0, Last: at, Transport: "tcp", AppProto: "tls", VLAN: 20,
		Orig: events.Endpoint{MAC: origMAC, IP: origIP, Port: 40000}, Resp: events.Endpoint{MAC: respMAC, IP: respIP, Port: 443},
		OrigPackets: pkts, RespPackets: pkts, OrigBytes: 100 * pkts, RespBytes: 200 * pkts,
	})
}

func obs(sec int, attr, value string, conf float64) events.Event[events.Observation] {
	return events.MustEvent(t0.Add(time.Duration(sec)*time.Second), events.Source{Component: "sensor"}, events.Observation{
		Device: events.DeviceKey(pump, "", 20), MAC: pump, VLAN: 20, Attribute: attr, Value: value,
		Protocol: "dhcp", Confidence: conf, Evidence: "test",
	})
}

func changes(evs []events.Event[events.DeviceChange]) []string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Body.Change)+":"+e.Body.Attribute+":"+e.Body.Old+">"+e.Body.New)
	}
	return out
}

func TestAddressChangeKeepsOneDevice(t *testing.T) {
	m := NewModel(DefaultConfiguration(), events.Source{}, Options{})
	got := changes(m.ObserveFlow(flow(1, events.FlowEnd, "a", pump, "10.20.0.102", "d4:ae:52:8a:10:21", "10.20.0.21", 3)))
	got = append(got, changes(m.ObserveAttribute(obs(2, "ip", "10.20.0.140", 0.9)))...)
	got = append(got, changes(m.ObserveFlow(flow(3, events.FlowEnd, "b", pump, "10.20.0.140", "d4:ae:52:8a:10:21", "10.20.0.21", 3)))...)
	want := []string{
		"new::>", "address:ip:>10.20.0.102", "new::>", "address:ip:>10.20.0.21",
		// The lease ends the address the pump used before.
		"address_released:ip:10.20.0.102>", "address:ip:10.20.0.102>10.20.0.140",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	devs := m.Devices()
	if len(devs) != 2 {
		t.Fatalf("%d devices, want the pump and the server", len(devs))
	}
	p := devs[0]
	if p.MAC != pump || len(p.Addresses) != 2 || p.Addresses[1].Source != "dhcp" || p.Traffic.Flows != 2 ||
		!p.Addresses[1].Current {
		t.Errorf("pump = %+v", p)
	}
}

func TestInternetAndGroupAddressesAreNotDevices(t *testing.T) {
	m := NewModel(DefaultConfiguration(), events.Source{}, Options{})
	m.ObserveFlow(flow(1, events.FlowEnd, "a", pump, "10.20.0.102", "00:00:0c:5a:20:01", "203.0.113.45", 3))
	m.ObserveFlow(flow(1, events.FlowEnd, "b", pump, "10.20.0.102", "01:00:5e:00:00:fb", "224.0.0.251", 1))
	if n := len(m.Devices()); n != 1 {
		t.Fatalf("%d devices, want only the pump: %+v", n, m.Devices())
	}
}

func TestAttributeFusion(t *testing.T) {
	m := NewModel(DefaultConfiguration(), events.Source{}, Options{})
	var got []string
	got = append(got, changes(m.ObserveAttribute(obs(1, "hostname", "INF-PUMP-02", 0.9)))...)
	got = append(got, changes(m.ObserveAttribute(obs(2, "hostname", "INF-PUMP-02", 0.9)))...) // same value: no change
	got = append(got, changes(m.ObserveAttribute(obs(3, "hostname", "guess", 0.3)))...)       // weaker source: ignored
	got = append(got, changes(m.ObserveAttribute(obs(4, "hostname", "PUMP-ICU-7", 0.9)))...)  // renamed: a change
	want := []string{"new::>", "attribute:hostname:>INF-PUMP-02", "attribute:hostname:INF-PUMP-02>PUMP-ICU-7"}
	// The weak guess from the same protocol does not replace the name.
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	a := m.Devices()[0].Attributes[0]
	if a.Value != "PUMP-ICU-7" || a.Protocol != "dhcp" || len(a.EventIDs) != 1 || !a.FirstSeen.Equal(t0.Add(4*time.Second)) {
		t.Errorf("attribute = %+v", a)
	}
}

func TestUpdatesAreCountedOnce(t *testing.T) {
	m := NewModel(DefaultConfiguration(), events.Source{}, Options{})
	m.ObserveFlow(flow(300, events.FlowUpdate, "a", pump, "10.20.0.102", "d4:ae:52:8a:10:21", "10.20.0.21", 10))
	m.ObserveFlow(flow(600, events.FlowUpdate, "a", pump, "10.20.0.102", "d4:ae:52:8a:10:21", "10.20.0.21", 25))
	m.ObserveFlow(flow(700, events.FlowEnd, "a", pump, "10.20.0.102", "d4:ae:52:8a:10:21", "10.20.0.21", 30))
	got := m.Devices()[0].Traffic
	want := Traffic{Flows: 1, PacketsSent: 30, PacketsReceived: 30, BytesSent: 3000, BytesReceived: 6000}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("traffic (-want +got):\n%s", diff)
	}
}

func TestGatewayHidesDevicesBehindIt(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.GatewayAddresses = 3
	m := NewModel(cfg, events.Source{}, Options{})
	const router = "00:00:0c:5a:20:01"
	for i := range 6 {
		ip := "10.30.0." + strconv.Itoa(i+1)
		m.ObserveFlow(flow(i, events.FlowEnd, ip, router, ip, pump, "10.20.0.102", 1))
	}
	var gw Device
	var routed []string
	for _, d := range m.Devices() {
		switch {
		case d.MAC == router:
			gw = d
		case d.Routed:
			routed = append(routed, d.Key)
			if d.Limitation == "" {
				t.Errorf("routed device %s states no limitation", d.Key)
			}
		}
	}
	if !gw.Gateway || len(gw.CurrentIPs()) != 0 {
		t.Fatalf("router = %+v, want a gateway holding none of the forwarded addresses", gw)
	}
	want := []string{"ip:10.30.0.4/20", "ip:10.30.0.5/20", "ip:10.30.0.6/20"}
	if diff := cmp.Diff(want, routed); diff != "" {
		t.Errorf("devices behind the router (-want +got):\n%s", diff)
	}
}

func TestReusedAddressNeverMergesDevices(t *testing.T) {
	m := NewModel(DefaultConfiguration(), events.Source{}, Options{})
	const monitor = "00:09:fb:11:22:33"
	m.ObserveAttribute(obs(1, "ip", "10.20.0.50", 0.95))
	// Later the lease of 10.20.0.50 goes to a monitor.
	ev := events.MustEvent(t0.Add(time.Hour), events.Source{Component: "sensor"}, events.Observation{
		Device: events.DeviceKey(monitor, "", 20), MAC: monitor, VLAN: 20, Attribute: "ip", Value: "10.20.0.50",
		Protocol: "dhcp", Confidence: 0.95, Evidence: "DHCPACK yiaddr",
	})
	got := changes(m.ObserveAttribute(ev))
	// The pump has been silent for an hour: offline first.
	want := []string{"offline::>", "new::>", "address_released:ip:10.20.0.50>", "address:ip:>10.20.0.50"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	devs := m.Devices()
	if len(devs) != 2 {
		t.Fatalf("%d devices, want 2", len(devs))
	}
	for _, d := range devs {
		switch d.MAC {
		case pump:
			if a := d.Addresses[0]; a.Current || !a.Released.Equal(t0.Add(time.Hour)) {
				t.Errorf("pump address = %+v, want released", a)
			}
		case monitor:
			if ips := d.CurrentIPs(); len(ips) != 1 || ips[0] != "10.20.0.50" {
				t.Errorf("monitor holds %v", ips)
			}
		}
	}
}

func TestNewLeaseReleasesTheOldOne(t *testing.T) {
	m := NewModel(DefaultConfiguration(), events.Source{}, Options{})
	m.ObserveAttribute(obs(1, "ip", "10.20.0.50", 0.95))
	got := changes(m.ObserveAttribute(obs(2, "ip", "10.20.0.77", 0.95)))
	want := []string{"address_released:ip:10.20.0.50>", "address:ip:10.20.0.50>10.20.0.77"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if ips := m.Devices()[0].CurrentIPs(); len(ips) != 1 || ips[0] != "10.20.0.77" {
		t.Errorf("current addresses %v", ips)
	}
}

func obsFrom(sec int, attr, value, protocol string, conf float64) events.Event[events.Observation] {
	e := obs(sec, attr, value, conf)
	e.Body.Protocol = protocol
	return events.MustEvent(e.Time, e.Source, e.Body)
}

func TestSourcesAndVersionChanges(t *testing.T) {
	m := NewModel(DefaultConfiguration(), events.Source{}, Options{})
	m.ObserveAttribute(obsFrom(1, "firmware_version", "3.2.0", "http", 0.9))
	m.ObserveAttribute(obsFrom(2, "firmware_version", "3.2.0", "snmp", 0.9))
	// The device's own SNMP agent reports an older firmware: a downgrade.
	evs := m.ObserveAttribute(obsFrom(3, "firmware_version", "2.9.1", "snmp", 0.9))
	if len(evs) != 1 || evs[0].Body.Summary != `firmware_version downgraded from "3.2.0" to "2.9.1" (snmp)` {
		t.Fatalf("changes = %+v", evs)
	}
	a := m.Devices()[0].Attributes[0]
	if a.Value != "2.9.1" || len(a.Sources) != 2 {
		t.Errorf("attribute = %+v, want snmp's value with both sources kept", a)
	}
	// Multi-valued: each AE title is kept and announced once.
	m.ObserveAttribute(obsFrom(4, "dicom.ae_title", "CT01", "dicom", 0.95))
	m.ObserveAttribute(obsFrom(5, "dicom.ae_title", "CT01_STORE", "dicom", 0.95))
	if got := changes(m.ObserveAttribute(obsFrom(6, "dicom.ae_title", "CT01", "dicom", 0.95))); len(got) != 0 {
		t.Errorf("a known AE title caused %v", got)
	}
	for _, a := range m.Devices()[0].Attributes {
		if a.Name == "dicom.ae_title" && len(a.Sources) != 2 {
			t.Errorf("AE titles = %+v", a.Sources)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"2.10", "2.9", 1}, {"1.0", "1.0", 0}, {"1.0.1", "1.0", 1}, {"V3.2", "V3.10", -1}, {"4.2.1-b7", "4.2.1-b7", 0}} {
		if got := compareVersions(c.a, c.b); got != c.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestOfflineAndOnlineOnEventTime(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.OfflineAfter = 10 * time.Minute
	m := NewModel(cfg, events.Source{}, Options{})
	m.ObserveFlow(flow(0, events.FlowEnd, "a", pump, "10.20.0.102", "d4:ae:52:8a:10:21", "10.20.0.21", 1))
	// The server keeps talking to another device; the pump is silent.
	var got []string
	for i := 1; i <= 15; i++ {
		got = append(got, changes(m.ObserveFlow(flow(i*60, events.FlowEnd, "b"+strconv.Itoa(i), "d4:ae:52:8a:10:21", "10.20.0.21", "00:09:fb:11:22:33", "10.20.0.60", 1)))...)
	}
	got = append(got, changes(m.ObserveFlow(flow(20*60, events.FlowEnd, "c", pump, "10.20.0.102", "d4:ae:52:8a:10:21", "10.20.0.21", 1)))...)
	var states []string
	for _, g := range got {
		if strings.HasPrefix(g, "offline") || strings.HasPrefix(g, "online") {
			states = append(states, g)
		}
	}
	if diff := cmp.Diff([]string{"offline::>", "online::>"}, states); diff != "" {
		t.Errorf("state changes (-want +got):\n%s", diff)
	}
}

func TestUtilisationCountsClinicalWork(t *testing.T) {
	m := NewModel(DefaultConfiguration(), events.Source{}, Options{})
	const ct, pacs = "00:00:5a:01:02:03", "d4:ae:52:8a:10:21"
	f := flow(3600*2, events.FlowEnd, "a", ct, "10.20.0.30", pacs, "10.20.0.21", 10)
	f.Body.App = map[string]uint64{"dicom.associations": 1, "dicom.c_store_rq": 120, "dicom.c_echo_rq": 1}
	m.ObserveFlow(events.MustEvent(f.Time, f.Source, f.Body))
	for _, d := range m.Devices() {
		u := d.Usage[0]
		switch d.MAC {
		case ct:
			if u.Work["dicom.objects_sent"] != 120 || u.Work["dicom.associations"] != 1 || u.Day != "2026-01-05" {
				t.Errorf("modality usage = %+v", u)
			}
			// 08:00 to 10:00 are three hours.
			if u.ActiveHours != 3 || u.BytesSent != 1000 {
				t.Errorf("modality usage = %+v", u)
			}
		case pacs:
			if u.Work["dicom.objects_received"] != 120 || u.Work["dicom.associations_accepted"] != 1 {
				t.Errorf("PACS usage = %+v", u)
			}
		}
	}
}

func TestOrganisationMostSpecificWins(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Organisation = []OrgRule{
		{VLAN: 20, Site: "North", Department: "Unknown ward"},
		{CIDR: "10.20.0.0/16", Site: "North", Segment: "clinical"},
		{CIDR: "10.20.0.0/24", Site: "North", Segment: "clinical", Department: "ICU", Location: "Building A, floor 3"},
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	m := NewModel(cfg, events.Source{}, Options{})
	m.ObserveFlow(flow(1, events.FlowEnd, "a", pump, "10.20.0.102", "d4:ae:52:8a:10:21", "10.20.5.21", 1))
	for _, d := range m.Devices() {
		want := Org{Site: "North", Segment: "clinical", Department: "ICU", Location: "Building A, floor 3", Source: "network"}
		if d.MAC != pump {
			want = Org{Site: "North", Segment: "clinical", Source: "network"}
		}
		if d.Org != want {
			t.Errorf("%s org = %+v, want %+v", d.MAC, d.Org, want)
		}
	}
}

func TestConfigurationErrorsNameFields(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Timezone = "Mars/Olympus"
	cfg.Organisation = []OrgRule{{CIDR: "10.0.0.0/33", Site: "x"}, {Site: "y"}, {VLAN: 5}}
	var msgs []string
	for _, e := range cfg.Validate() {
		msgs = append(msgs, e.Error())
	}
	got := strings.Join(msgs, "\n")
	for _, want := range []string{"timezone:", "organisation[0].cidr:", "organisation[1]: needs a cidr or a vlan", "organisation[2]: assigns nothing"} {
		if !strings.Contains(got, want) {
			t.Errorf("errors %q lack %q", got, want)
		}
	}
}

type fakeClassifier struct{}

func (fakeClassifier) Classify(f classify.Facts) classify.Result {
	if slices.Contains(f.Attributes["vendor"], "B. Braun") {
		return classify.Result{Category: "infusion_pump", Medical: true, Criticality: classify.LifeSustaining, Rule: "braun", Confidence: 0.8}
	}
	return classify.Result{Category: "unknown", Criticality: classify.Unknown}
}

func TestClassificationChangesAreEvents(t *testing.T) {
	m := NewModel(DefaultConfiguration(), events.Source{}, Options{
		Classifier: fakeClassifier{},
		Vendors: func(mac string) (string, bool) {
			return "B. Braun", strings.HasPrefix(mac, "00:12:21")
		},
	})
	got := changes(m.ObserveFlow(flow(1, events.FlowEnd, "a", pump, "10.20.0.102", "d4:ae:52:8a:10:21", "10.20.0.21", 1)))
	if !slices.Contains(got, "classification:category:unknown>infusion_pump") {
		t.Errorf("changes %v lack the classification", got)
	}
	for _, d := range m.Devices() {
		if d.MAC == pump {
			s := Snapshot(&d)
			if s.Category != "infusion_pump" || !s.Medical || s.Criticality != "life_sustaining" || d.OUIVendor != "B. Braun" {
				t.Errorf("snapshot = %+v", s)
			}
		}
	}
}

func TestRegisterImportAndReconciliation(t *testing.T) {
	csv := "Asset Tag,Serial Number,MAC Address,Manufacturer,Model,Department,Room\n" +
		"BME-0001,SN-PUMP-1,00:12:21:4E:0A:12,B. Braun,Space,ICU,3.14\n" +
		"BME-0002,SN-MON-9,not-a-mac,Philips,MX450,ICU,3.15\n" +
		"BME-0003,SN-XRAY,00:00:5a:99:99:99,Siemens,Ysio,Radiology,R1\n" +
		"BME-0004,SN-PUMP-1,00:12:21:00:00:01,B. Braun,Space,ICU,3.16\n"
	reg, err := LoadRegister(strings.NewReader(csv), "cmms.csv")
	if err == nil || !strings.Contains(err.Error(), "cmms.csv:3: mac \"not-a-mac\"") || !strings.Contains(err.Error(), "cmms.csv:5: serial \"SN-PUMP-1\" already registered on line 2") {
		t.Errorf("errors = %v", err)
	}
	if len(reg.Assets) != 2 {
		t.Fatalf("kept %d rows, want the 2 good ones", len(reg.Assets))
	}
	m := NewModel(DefaultConfiguration(), events.Source{}, Options{Register: reg})
	m.ObserveFlow(flow(1, events.FlowEnd, "a", pump, "10.20.0.102", "d4:ae:52:8a:10:21", "10.20.0.21", 1))
	m.ObserveAttribute(obsFrom(2, "model", "Perfusor Space", "http", 0.9))
	m.ObserveAttribute(obsFrom(3, "serial", "SN-PUMP-7", "http", 0.9))
	rec := reg.Reconcile(m.Devices())
	if rec.Matched != 1 || len(rec.ExpectedNotSeen) != 1 || rec.ExpectedNotSeen[0].Tag != "BME-0003" || len(rec.SeenNotRegistered) != 1 {
		t.Errorf("reconciliation = %+v", rec)
	}
	if len(rec.Conflicts) != 1 || rec.Conflicts[0].Field != "serial" || rec.Conflicts[0].Observed != "SN-PUMP-7" {
		t.Errorf("conflicts = %+v (the model matches by substring, the serial differs)", rec.Conflicts)
	}
	for _, d := range m.Devices() {
		if d.MAC == pump && (d.Org.Department != "ICU" || d.Org.Location != "3.14" || d.Org.Source != "register" || d.Asset.Tag != "BME-0001") {
			t.Errorf("pump org = %+v asset = %+v", d.Org, d.Asset)
		}
	}
	if _, err := LoadRegister(strings.NewReader("a,b\n1,2\n"), "x.csv"); err == nil || !strings.Contains(err.Error(), "no column to match") {
		t.Errorf("a register without identifying columns: %v", err)
	}
}

// TestCheckpointResumesExactly splits a stream of events at every point,
// checkpoints, restores into a new model and finishes: the inventory and
// the changes must equal an uninterrupted run's.
func TestCheckpointResumesExactly(t *testing.T) {
	var evs []events.Message
	evs = append(evs, flow(0, events.FlowUpdate, "a", pump, "10.20.0.102", "d4:ae:52:8a:10:21", "10.20.0.21", 5))
	evs = append(evs, obs(10, "hostname", "PUMP-1", 0.9), obs(20, "ip", "10.20.0.140", 0.95))
	evs = append(evs, flow(400, events.FlowEnd, "a", pump, "10.20.0.102", "d4:ae:52:8a:10:21", "10.20.0.21", 9))
	evs = append(evs, obsFrom(3000, "firmware_version", "1.2", "snmp", 0.9), obs(3100, "hostname", "PUMP-2", 0.9))
	run := func(m *Model, evs []events.Message) []string {
		var out []string
		for _, e := range evs {
			switch e := e.(type) {
			case events.Event[events.Flow]:
				out = append(out, changes(m.ObserveFlow(e))...)
			case events.Event[events.Observation]:
				out = append(out, changes(m.ObserveAttribute(e))...)
			}
		}
		return out
	}
	whole := NewModel(DefaultConfiguration(), events.Source{}, Options{})
	wantChanges := run(whole, evs)
	want := whole.Devices()
	for cut := range evs {
		first := NewModel(DefaultConfiguration(), events.Source{}, Options{})
		got := run(first, evs[:cut])
		st, err := first.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		second := NewModel(DefaultConfiguration(), events.Source{}, Options{})
		if err := second.RestoreState(st); err != nil {
			t.Fatal(err)
		}
		got = append(got, run(second, evs[cut:])...)
		if diff := cmp.Diff(want, second.Devices(), cmpopts.IgnoreUnexported(Device{})); diff != "" {
			t.Errorf("cut %d: devices (-want +got):\n%s", cut, diff)
		}
		if diff := cmp.Diff(wantChanges, got); diff != "" {
			t.Errorf("cut %d: changes (-want +got):\n%s", cut, diff)
		}
	}
	if err := NewModel(DefaultConfiguration(), events.Source{}, Options{}).RestoreState([]byte(`{"version":9}`)); err == nil {
		t.Error("a checkpoint of another version was accepted")
	}
}

func TestDHCPReleaseEndsTheAddress(t *testing.T) {
	m := NewModel(DefaultConfiguration(), events.Source{}, Options{})
	m.ObserveAttribute(obs(1, "ip", "10.20.0.50", 0.95))
	got := changes(m.ObserveAttribute(obs(60, "dhcp.released_ip", "10.20.0.50", 0.95)))
	if diff := cmp.Diff([]string{"address_released:ip:10.20.0.50>"}, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if ips := m.Devices()[0].CurrentIPs(); len(ips) != 0 {
		t.Errorf("current addresses after the release: %v", ips)
	}
}

// TestFactsBehindARouterMoveToTheirDevice: facts observed with the router's
// MAC before it was known as a router belong to the devices behind it.
func TestFactsBehindARouterMoveToTheirDevice(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.GatewayAddresses = 3
	m := NewModel(cfg, events.Source{}, Options{})
	const router = "00:00:0c:5a:20:01"
	for i := range 6 {
		ip := "10.30.0." + strconv.Itoa(i+1)
		m.ObserveFlow(flow(i, events.FlowEnd, ip, router, ip, pump, "10.20.0.102", 1))
		o := events.MustEvent(t0.Add(time.Duration(i)*time.Second+time.Millisecond), events.Source{Component: "sensor"}, events.Observation{
			Device: events.DeviceKey(router, "", 20), MAC: router, IP: ip, VLAN: 20,
			Attribute: "hostname", Value: "PLC-" + strconv.Itoa(i+1), Protocol: "bacnet", Confidence: 0.6, Evidence: "test",
		})
		m.ObserveAttribute(o)
	}
	names := map[string]string{}
	for _, d := range m.Devices() {
		names[d.Key] = d.Attr("hostname")
	}
	if names["mac:"+router+"/20"] != "" {
		t.Errorf("the router kept a name of a device behind it: %q", names["mac:"+router+"/20"])
	}
	for i := range 6 {
		if got := names["ip:10.30.0."+strconv.Itoa(i+1)+"/20"]; got != "PLC-"+strconv.Itoa(i+1) {
			t.Errorf("10.30.0.%d is named %q", i+1, got)
		}
	}
}
