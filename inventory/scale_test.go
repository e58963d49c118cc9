package inventory_test

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/inventory"
	"github.com/vigil-health/vigil/inventory/classify"
)

// This file generates a realistic hospital event log, deterministically,
// for the scale test here and BenchmarkRebuild (bench_test.go).
//
// The hospital: about one VLAN (a /22 of 10.0.0.0/8) per 500 devices,
// grouped in segments (clinical wards, imaging, offices, voice, security,
// network management, Wi-Fi) plus one data-centre VLAN with the servers.
// Each VLAN has a router (an HSRP virtual MAC). The sensor sees each
// routed flow once, on the client's VLAN: the server side of the flow
// carries the router's MAC. Each segment reaches at most 11 off-VLAN
// addresses, under the model's GatewayAddresses (16), so no router is
// taken for a gateway and the device count is exact; past it, every
// (server, VLAN) pair would become an IP-keyed device of its own.
//
// The log covers one day. Each device renews its DHCP lease (hostname,
// vendor class, parameter list, address), speaks its protocols (DICOM AE
// titles and roles, HL7 applications, SNMP sysDescr, TLS SNI and JA4, DNS
// names, BACnet) and has flows: to its servers through the router, to its
// VLAN's peers (workstation to printer, monitor to central station, phone
// to phone), to the internet. Some 3% of the DHCP clients nobody else
// addresses (pumps, monitors, analysers, workstations, cameras, phones on
// Wi-Fi) get a new address during the day.

var scaleDay = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

const scaleSeed = 20260302

var sensor = events.Source{Component: "sensor", Name: "sensor-core-1", Site: "main"}

// scaleConfig is the inventory configuration of the generated hospital.
// The log samples each device's traffic (some 35 events a day, where a
// sensor reports every live flow each 5 minutes), so the silence after
// which a device is offline is scaled with it: with the default 15
// minutes, nearly every device would go offline and back between two of
// its events, which a real network does not do.
func scaleConfig(h *hospital) inventory.Configuration {
	cfg := inventory.DefaultConfiguration()
	cfg.MaxDevices = max(cfg.MaxDevices, len(h.devices))
	cfg.OfflineAfter = 2 * time.Hour
	cfg.Organisation = h.org
	return cfg
}

func scaleOptions(tb testing.TB, h *hospital) inventory.Options {
	tb.Helper()
	rules, err := classify.Default()
	if err != nil {
		tb.Fatal(err)
	}
	return inventory.Options{Classifier: rules, Vendors: h.vendor}
}

type kind uint8

const (
	kindGateway kind = iota
	kindServer
	kindPump
	kindMonitor
	kindCentral
	kindDraeger
	kindAnalyser
	kindModality
	kindImagingWS
	kindWorkstation
	kindPrinter
	kindPhone
	kindCamera
	kindBuilding
	kindSwitch
	kindMobile
)

// mix is the share of each kind, per thousand devices, and its segment.
// Workstations fill the office VLANs with the rest; each clinical VLAN
// has a central station and each VLAN a router.
var mix = []struct {
	kind     kind
	segment  string
	perMille float64
}{
	{kindServer, "datacentre", 3},
	{kindPump, "clinical", 160},
	{kindMonitor, "clinical", 90},
	{kindDraeger, "clinical", 10},
	{kindAnalyser, "clinical", 8},
	{kindModality, "imaging", 8},
	{kindImagingWS, "imaging", 7},
	{kindPrinter, "office", 50},
	{kindPhone, "voice", 140},
	{kindCamera, "security", 40},
	{kindBuilding, "security", 20},
	{kindSwitch, "network", 20},
	{kindMobile, "wifi", 40},
}

var segments = []string{"datacentre", "clinical", "imaging", "office", "voice", "security", "network", "wifi"}

// segmentServers are the servers each segment reaches through its router:
// fewer than GatewayAddresses (sim.server panics on any other).
var segmentServers = map[string][]string{
	"clinical": {"dc1", "dc2", "ntp", "pumps-bbraun", "pumps-bd", "hl7-engine1", "lis", "syslog"},
	"imaging":  {"dc1", "dc2", "ntp", "pacs1", "pacs2", "ris", "ehr1"},
	"office":   {"dc1", "dc2", "ehr1", "ehr2", "ehr3", "file1", "print1", "proxy", "sccm", "pacs1", "nms"},
	"voice":    {"dc1", "ntp", "cucm1", "cucm2", "tftp"},
	"security": {"dc1", "ntp", "nvr1", "nvr2", "bms"},
	"network":  {"ntp", "nms", "syslog", "tacacs"},
	"wifi":     {"dc1", "dc2"},
}

// serverRoles are the named servers; the rest of the data centre is
// application servers.
var serverRoles = []string{"dc1", "dc2", "ntp", "ehr1", "ehr2", "ehr3", "file1", "print1", "proxy", "sccm",
	"pacs1", "pacs2", "vna", "ris", "lis", "hl7-engine1", "hl7-engine2", "pumps-bbraun", "pumps-bd",
	"cucm1", "cucm2", "tftp", "nvr1", "nvr2", "bms", "nms", "syslog", "tacacs", "backup"}

// ouis are the MAC prefixes used, with the vendor the OUI registry
// names for them (the vendor lookup stub).
var ouis = map[string]string{
	"00:12:21": "B. Braun", "00:d0:75": "BD (Alaris)",
	"00:09:5c": "Philips Healthcare", "44:4b:5d": "GE HealthCare", "00:0f:14": "Mindray",
	"00:10:5d": "Draeger", "00:18:65": "Siemens Healthineers", "00:e0:90": "Beckman Coulter",
	"08:00:06": "Siemens", "00:06:5b": "Dell", "00:01:e6": "HP", "10:c5:95": "Lenovo", "00:12:f0": "Intel",
	"00:14:38": "HPE", "00:04:f2": "Polycom", "24:9a:d8": "Yealink", "00:00:0c": "Cisco", "00:0b:86": "Aruba",
	"ac:cc:8e": "Axis Communications", "04:03:12": "Hikvision", "00:20:00": "Lexmark",
	"00:07:4d": "Zebra Technologies", "00:10:8d": "Johnson Controls",
}

type simVLAN struct {
	index   int
	id      uint16
	segment string
	gw      *simDevice
	next    int // next host number for a device
	spare   int // next host number for a new DHCP lease
	peers   map[kind][]*simDevice
}

type simDevice struct {
	n       int
	kind    kind
	variant int
	vlan    *simVLAN
	mac     string
	ip      string
	newIP   string // the lease after a DHCP change, "" if none
	moved   time.Time
	name    string
	role    string // servers: "pacs1", ...
}

// ipAt is the device's address at t.
func (d *simDevice) ipAt(t time.Time) string {
	if d.newIP != "" && !t.Before(d.moved) {
		return d.newIP
	}
	return d.ip
}

// hospital is the generated network.
type hospital struct {
	devices []*simDevice
	vlans   []*simVLAN
	servers map[string]*simDevice
	org     []inventory.OrgRule
	kinds   map[kind]int
}

func (h *hospital) vendor(mac string) (string, bool) {
	if len(mac) < 8 {
		return "", false
	}
	v, ok := ouis[mac[:8]]
	return v, ok
}

func vlanIP(vi, host int) string {
	return "10." + strconv.Itoa(vi>>6) + "." + strconv.Itoa((vi&63)<<2+host>>8) + "." + strconv.Itoa(host&255)
}

func macOf(prefix string, n int) string {
	const hexdigits = "0123456789abcdef"
	b := []byte(prefix + ":00:00:00")
	for i, v := range []int{n >> 16 & 255, n >> 8 & 255, n & 255} {
		b[9+3*i], b[10+3*i] = hexdigits[v>>4], hexdigits[v&15]
	}
	return string(b)
}

const perVLAN = 500

// newHospital lays out n devices (routers and servers included).
func newHospital(n int) *hospital {
	rng := rand.New(rand.NewPCG(scaleSeed, 0))
	h := &hospital{servers: map[string]*simDevice{}, kinds: map[kind]int{}}
	counts := map[kind]int{}
	perSegment := map[string]int{}
	fixed := 0
	for _, m := range mix {
		c := int(float64(n)*m.perMille/1000 + 0.5)
		if m.kind == kindServer {
			c = max(c, len(serverRoles)+10)
		}
		counts[m.kind] = c
		if m.segment != "office" {
			perSegment[m.segment] += c
		}
		fixed += c
	}
	vlansOf := map[string]int{}
	otherVLANs := 0
	for _, s := range segments {
		if s == "office" {
			continue
		}
		v := max(1, (perSegment[s]+perVLAN-1)/perVLAN)
		if s == "datacentre" {
			v = 1
		}
		vlansOf[s] = v
		otherVLANs += v
	}
	centrals := vlansOf["clinical"]
	rest := n - fixed - centrals - otherVLANs // workstations and office routers
	vlansOf["office"] = max(1, (rest+counts[kindPrinter]+perVLAN-1)/perVLAN)
	counts[kindWorkstation] = rest - vlansOf["office"]
	counts[kindCentral] = centrals
	if counts[kindWorkstation] < 0 {
		panic("hospital too small")
	}

	bySegment := map[string][]*simVLAN{}
	for _, s := range segments {
		for range vlansOf[s] {
			vi := len(h.vlans)
			v := &simVLAN{index: vi, id: uint16(100 + vi), segment: s, next: 10, spare: 800, peers: map[kind][]*simDevice{}}
			if s == "datacentre" {
				v.id = 10
			}
			h.vlans = append(h.vlans, v)
			bySegment[s] = append(bySegment[s], v)
		}
	}
	add := func(k kind, v *simVLAN, host int) *simDevice {
		d := &simDevice{n: len(h.devices), kind: k, vlan: v, variant: rng.IntN(100)}
		if host < 0 {
			host = v.next
			v.next++
			if v.next >= v.spare {
				panic(fmt.Sprintf("VLAN %d is full", v.id))
			}
		}
		d.ip = vlanIP(v.index, host)
		h.devices = append(h.devices, d)
		h.kinds[k]++
		v.peers[k] = append(v.peers[k], d)
		return d
	}
	for _, v := range h.vlans {
		v.gw = add(kindGateway, v, 1)
	}
	for _, v := range bySegment["clinical"] {
		add(kindCentral, v, -1)
	}
	place := func(k kind, segment string) {
		vs := bySegment[segment]
		for i := range counts[k] {
			add(k, vs[i%len(vs)], -1)
		}
	}
	for _, m := range mix {
		place(m.kind, m.segment)
	}
	place(kindWorkstation, "office")
	if len(h.devices) != n {
		panic(fmt.Sprintf("laid out %d devices, want %d", len(h.devices), n))
	}

	servers := 0
	for _, d := range h.devices {
		nameDevice(d)
		if d.kind == kindServer {
			if servers < len(serverRoles) {
				d.role = serverRoles[servers]
			} else {
				d.role = fmt.Sprintf("app%03d", servers)
			}
			d.name = "SRV-" + strings.ToUpper(d.role)
			h.servers[d.role] = d
			servers++
		}
		switch d.kind {
		case kindPump, kindMonitor, kindDraeger, kindAnalyser, kindWorkstation, kindImagingWS, kindCamera, kindMobile:
			if rng.IntN(100) < 3 {
				d.newIP = vlanIP(d.vlan.index, d.vlan.spare)
				d.vlan.spare++
				d.moved = scaleDay.Add(7*time.Hour + time.Duration(rng.Int64N(int64(13*time.Hour))))
			}
		}
	}

	sites := []string{"Main Campus", "North Wing", "Children's Hospital", "Outpatients Centre"}
	wards := []string{"ICU", "ED", "Cardiology", "Oncology", "Maternity", "Theatres", "Surgical Ward", "Medical Ward", "Neurology", "Renal"}
	for _, v := range h.vlans {
		r := inventory.OrgRule{CIDR: vlanIP(v.index, 0) + "/22", Site: sites[v.index%len(sites)], Segment: v.segment}
		switch v.segment {
		case "clinical":
			r.Department = wards[v.index%len(wards)]
			r.Location = "Level " + strconv.Itoa(v.index%7)
		case "datacentre":
			r.Department, r.Location = "IT", "Data centre A"
		case "imaging":
			r.Department = "Radiology"
		default:
			r.Department = "Facilities"
		}
		h.org = append(h.org, r)
	}
	return h
}

// nameDevice sets the MAC and the hostname.
func nameDevice(d *simDevice) {
	pick := func(prefixes ...string) string { return prefixes[d.variant%len(prefixes)] }
	n := d.n
	switch d.kind {
	case kindGateway:
		d.mac = fmt.Sprintf("00:00:0c:9f:f%01x:%02x", d.vlan.id>>8, d.vlan.id&255) // HSRPv2 virtual MAC
		d.name = fmt.Sprintf("core-%d-vl%d", d.vlan.index%2+1, d.vlan.id)
		return
	case kindServer:
		d.mac = macOf(pick("00:14:38", "00:06:5b"), n)
	case kindPump:
		if d.variant < 60 {
			d.mac, d.name = macOf("00:12:21", n), fmt.Sprintf("SPACECOM-%06d", n)
		} else {
			d.mac, d.name = macOf("00:d0:75", n), fmt.Sprintf("PCU8015-%06d", n)
		}
	case kindMonitor:
		switch {
		case d.variant < 50:
			d.mac, d.name = macOf("00:09:5c", n), fmt.Sprintf("MX450-%06d", n)
		case d.variant < 75:
			d.mac, d.name = macOf("44:4b:5d", n), fmt.Sprintf("B450-%06d", n)
		default:
			d.mac, d.name = macOf("00:0f:14", n), fmt.Sprintf("N12-%06d", n)
		}
	case kindCentral:
		d.mac, d.name = macOf("00:09:5c", n), fmt.Sprintf("PIIC-IX-VL%d", d.vlan.id)
	case kindDraeger:
		d.mac, d.name = macOf("00:10:5d", n), fmt.Sprintf("M540-%06d", n)
	case kindAnalyser:
		if d.variant < 50 {
			d.mac, d.name = macOf("00:18:65", n), fmt.Sprintf("ATELLICA-%05d", n)
		} else {
			d.mac, d.name = macOf("00:e0:90", n), fmt.Sprintf("DXH900-%05d", n)
		}
	case kindModality:
		d.mac, d.name = macOf(pick("08:00:06", "44:4b:5d", "08:00:06", "00:09:5c"), n), fmt.Sprintf("%s%05d", pick("CT", "US", "MR", "DX"), n)
	case kindImagingWS:
		d.mac, d.name = macOf(pick("00:06:5b", "00:01:e6"), n), fmt.Sprintf("RADWS%05d", n)
	case kindWorkstation:
		d.mac, d.name = macOf(pick("00:06:5b", "00:01:e6", "10:c5:95", "00:12:f0"), n), fmt.Sprintf("WS%s%06d", pick("ADM", "CLIN", "NUR", "FIN", "HR"), n)
	case kindPrinter:
		switch {
		case d.variant < 50:
			d.mac, d.name = macOf("00:01:e6", n), fmt.Sprintf("NPI%06X", n)
		case d.variant < 80:
			d.mac, d.name = macOf("00:20:00", n), fmt.Sprintf("ET%06X", n)
		default:
			d.mac, d.name = macOf("00:07:4d", n), fmt.Sprintf("ZBR%06d", n)
		}
	case kindPhone:
		switch {
		case d.variant < 40:
			d.mac = macOf("00:04:f2", n)
			d.name = "Polycom_" + strings.ReplaceAll(d.mac, ":", "")
		case d.variant < 70:
			d.mac = macOf("24:9a:d8", n)
			d.name = "SIP-T54W-" + strconv.Itoa(n)
		default:
			d.mac = macOf("00:00:0c", n)
			d.name = "SEP" + strings.ToUpper(strings.ReplaceAll(d.mac, ":", ""))
		}
	case kindCamera:
		if d.variant < 60 {
			d.mac = macOf("ac:cc:8e", n)
			d.name = "axis-" + strings.ReplaceAll(d.mac, ":", "")
		} else {
			d.mac, d.name = macOf("04:03:12", n), fmt.Sprintf("HIKCAM-%06d", n)
		}
	case kindBuilding:
		d.mac, d.name = macOf("00:10:8d", n), fmt.Sprintf("NAE-%05d", n)
	case kindSwitch:
		if d.variant < 60 {
			d.mac, d.name = macOf("00:00:0c", n), fmt.Sprintf("sw-%05d", n)
		} else {
			d.mac, d.name = macOf("00:0b:86", n), fmt.Sprintf("ap-%05d", n)
		}
	case kindMobile:
		d.mac = macOf(pick("da:a1:19", "3e:22:fb", "6a:5c:0e", "b2:7f:41"), n) // randomised
		if d.variant < 55 {
			d.name = "Galaxy-S" + strconv.Itoa(20+d.variant%5)
		} else {
			d.name = "iPhone"
		}
	}
}

func (k kind) String() string {
	return [...]string{"gateway", "server", "pump", "monitor", "central", "draeger", "analyser", "modality",
		"imaging_ws", "workstation", "printer", "phone", "camera", "building", "switch", "mobile"}[k]
}

// simEvent is a generated event, encoded, with its place in the log.
type simEvent struct {
	at      int64
	dev     int32
	seq     int32
	flow    bool
	payload []byte
}

// sim generates one device's day.
type sim struct {
	h     *hospital
	d     *simDevice
	rng   *rand.Rand
	out   []simEvent
	flows int
}

func (s *sim) emit(at time.Time, o *events.Observation, f *events.Flow) {
	e := simEvent{at: at.UnixNano(), dev: int32(s.d.n), seq: int32(len(s.out)), flow: f != nil}
	var err error
	if o != nil {
		e.payload, err = events.MustEvent(at, sensor, *o).Encode()
	} else {
		e.payload, err = events.MustEvent(at, sensor, *f).Encode()
	}
	if err != nil {
		panic(err)
	}
	s.out = append(s.out, e)
}

// when is a time of the day in [from, to).
func (s *sim) when(from, to time.Duration) time.Time {
	return scaleDay.Add(from + time.Duration(s.rng.Int64N(int64(to-from))))
}

func (s *sim) jitter(d time.Duration) time.Duration {
	return d*9/10 + time.Duration(s.rng.Int64N(int64(d/5)+1))
}

// quiet keeps a device that changes address silent in the half hour
// before: it was off, and its lease expired.
func (s *sim) quiet(t time.Time, dur time.Duration) time.Time {
	d := s.d
	if d.newIP != "" && t.Before(d.moved) && t.Add(dur).After(d.moved.Add(-30*time.Minute)) {
		return d.moved.Add(time.Minute + time.Duration(s.rng.Int64N(int64(10*time.Minute))))
	}
	return t
}

var dayEnd = scaleDay.Add(24 * time.Hour)

func (s *sim) flowID() string {
	s.flows++
	x := uint64(s.d.n)<<20 | uint64(s.flows)
	x ^= x >> 31
	x *= 0x9e3779b97f4a7c15
	return fmt.Sprintf("%016x", x)
}

// dhcpDay renews the lease every period, from a random time in the first
// period, and takes the new lease of a device that changes address.
func (s *sim) dhcpDay(period time.Duration, vendorClass, fingerprint string, clientID bool) {
	for t := s.when(0, period); t.Before(dayEnd); t = t.Add(s.jitter(period)) {
		s.dhcp(s.quiet(t, 0), vendorClass, fingerprint, clientID)
	}
	if s.d.newIP != "" {
		s.dhcp(s.d.moved, vendorClass, fingerprint, clientID)
	}
}

// dhcp is one DHCPREQUEST and its DHCPACK, as the DHCP dissector reports
// them: the request's options in order, then the address granted.
func (s *sim) dhcp(t time.Time, vendorClass, fingerprint string, clientID bool) {
	d := s.d
	fid := s.flowID()
	obs := func(at time.Time, attr, value string, conf float64, evidence string) {
		s.emit(at, &events.Observation{Device: events.DeviceKey(d.mac, "", d.vlan.id), MAC: d.mac, VLAN: d.vlan.id,
			Attribute: attr, Value: value, Protocol: "dhcp", Confidence: conf, Evidence: evidence, FlowID: fid}, nil)
	}
	if clientID {
		obs(t, "dhcp.client_id", "01:"+d.mac, 0.9, "DHCPREQUEST option 61")
	}
	old := d.ipAt(t.Add(-time.Nanosecond))
	if old != d.ipAt(t) || s.rng.IntN(2) == 0 {
		obs(t, "dhcp.requested_ip", old, 0.6, "DHCPREQUEST option 50")
	}
	obs(t, "hostname", d.name, 0.9, "DHCPREQUEST option 12")
	if vendorClass != "" {
		obs(t, "dhcp.vendor_class", vendorClass, 0.9, "DHCPREQUEST option 60")
	}
	obs(t, "dhcp.fingerprint", fingerprint, 0.8, "DHCPREQUEST option 55")
	obs(t.Add(3*time.Millisecond), "ip", d.ipAt(t), 0.95, "DHCPACK yiaddr")
}

// said is a fact the device sent, as a dissector reports it: with its MAC
// and address.
func (s *sim) said(t time.Time, attr, value, protocol string, conf float64, evidence string) {
	d := s.d
	t = s.quiet(t, 0)
	s.emit(t, &events.Observation{Device: events.DeviceKey(d.mac, "", d.vlan.id), MAC: d.mac, IP: d.ipAt(t), VLAN: d.vlan.id,
		Attribute: attr, Value: value, Protocol: protocol, Confidence: conf, Evidence: evidence}, nil)
}

// linkSaid is a fact from a link-layer protocol (LLDP): MAC only.
func (s *sim) linkSaid(t time.Time, attr, value, protocol string, conf float64, evidence string) {
	d := s.d
	s.emit(t, &events.Observation{Device: events.DeviceKey(d.mac, "", d.vlan.id), MAC: d.mac, VLAN: d.vlan.id,
		Attribute: attr, Value: value, Protocol: protocol, Confidence: conf, Evidence: evidence}, nil)
}

// arp is the device's address from its ARP replies (static addresses).
func (s *sim) arp(times int) {
	for range times {
		t := s.when(0, 24*time.Hour)
		s.emit(t, &events.Observation{Device: events.DeviceKey(s.d.mac, "", s.d.vlan.id), MAC: s.d.mac, VLAN: s.d.vlan.id,
			Attribute: "ip", Value: s.d.ip, Protocol: "arp", Confidence: 0.9, Evidence: "ARP reply sender address"}, nil)
	}
}

// Endpoints.

func (s *sim) port() uint16 { return uint16(49152 + s.rng.IntN(16000)) }

func (s *sim) self(t time.Time, port uint16) events.Endpoint {
	return events.Endpoint{MAC: s.d.mac, IP: s.d.ipAt(t), Port: port}
}

// server is a server of the data centre, through the router unless the
// device is in the data centre too.
func (s *sim) server(role string, port uint16) events.Endpoint {
	srv := s.h.servers[role]
	if srv == nil {
		panic("no server " + role)
	}
	if s.d.vlan == srv.vlan {
		return events.Endpoint{MAC: srv.mac, IP: srv.ip, Port: port}
	}
	if !slices.Contains(segmentServers[s.d.vlan.segment], role) {
		panic(s.d.vlan.segment + " does not reach " + role)
	}
	return events.Endpoint{MAC: s.d.vlan.gw.mac, IP: srv.ip, Port: port}
}

func (s *sim) peer(k kind, t time.Time, port uint16) (events.Endpoint, bool) {
	ps := s.d.vlan.peers[k]
	if len(ps) == 0 {
		return events.Endpoint{}, false
	}
	p := ps[s.rng.IntN(len(ps))]
	if p == s.d {
		return events.Endpoint{}, false
	}
	return events.Endpoint{MAC: p.mac, IP: p.ipAt(t), Port: port}, true
}

var internet = []string{"13.107.42.14", "20.190.159.2", "142.250.180.14", "17.253.144.10", "104.18.32.7", "151.101.1.140", "52.113.194.132"}

func (s *sim) internet(port uint16) events.Endpoint {
	return events.Endpoint{MAC: s.d.vlan.gw.mac, IP: internet[s.rng.IntN(len(internet))], Port: port}
}

// flow reports a flow of dur from start: updates every `every` (0: none)
// with counters so far, then its end. app are the dissectors' counters
// at the end.
func (s *sim) flow(start time.Time, dur time.Duration, transport, proto string, orig, resp events.Endpoint,
	bytesO, bytesR uint64, app map[string]uint64, every time.Duration) {
	if planned := start; s.d.newIP != "" {
		start = s.quiet(start, dur)
		if start != planned {
			// The endpoint that is the device takes its new address.
			for _, ep := range []*events.Endpoint{&orig, &resp} {
				if ep.MAC == s.d.mac {
					ep.IP = s.d.ipAt(start)
				}
			}
		}
	}
	id := s.flowID()
	end := start.Add(dur)
	report := func(last time.Time, phase events.FlowPhase, frac float64) {
		f := &events.Flow{FlowID: id, Phase: phase, Start: start, Last: last, DurationMS: last.Sub(start).Milliseconds(),
			Transport: transport, Orig: orig, Resp: resp, VLAN: s.d.vlan.id, AppProto: proto,
			OrigBytes: uint64(float64(bytesO) * frac), RespBytes: uint64(float64(bytesR) * frac)}
		f.OrigPackets, f.RespPackets = f.OrigBytes/700+1, f.RespBytes/700+1
		f.OrigPayload, f.RespPayload = f.OrigBytes-min(f.OrigBytes, 40*f.OrigPackets), f.RespBytes-min(f.RespBytes, 40*f.RespPackets)
		if transport == "tcp" {
			f.State, f.History = "SF", "ShADadFf"
			if phase == events.FlowUpdate {
				f.State, f.History = "S1", "ShADad"
			}
		}
		if len(app) > 0 {
			f.App = make(map[string]uint64, len(app))
			for k, v := range app {
				f.App[k] = max(1, uint64(float64(v)*frac))
			}
		}
		s.emit(last, nil, f)
	}
	if every > 0 {
		for u := start.Add(every); u.Before(end); u = u.Add(every) {
			report(u, events.FlowUpdate, float64(u.Sub(start))/float64(dur))
		}
	}
	report(end, events.FlowEnd, 1)
}

// often calls f about every `every` through the day.
func (s *sim) often(every time.Duration, f func(t time.Time)) {
	for t := s.when(0, every); t.Before(dayEnd); t = t.Add(s.jitter(every)) {
		f(t)
	}
}

// times calls f n times at random times of the day.
func (s *sim) times(n int, f func(t time.Time)) {
	for range n {
		f(s.when(0, 24*time.Hour))
	}
}

func (s *sim) dns(n int, servers ...string) {
	s.times(n, func(t time.Time) {
		s.flow(t, 20*time.Millisecond, "udp", "dns", s.self(t, s.port()), s.server(servers[s.rng.IntN(len(servers))], 53), 80, 160, nil, 0)
	})
}

func (s *sim) ntp(n int) {
	s.times(n, func(t time.Time) {
		s.flow(t, 10*time.Millisecond, "udp", "ntp", s.self(t, 123), s.server("ntp", 123), 90, 90, nil, 0)
	})
}

func (s *sim) secs(lo, hi int) time.Duration {
	return time.Duration(lo+s.rng.IntN(hi-lo+1)) * time.Second
}

var (
	wsNames = []string{"ehr.hospital.local", "ehr-api.hospital.local", "pacs-web.hospital.local", "fs01.hospital.local",
		"print01.hospital.local", "_ldap._tcp.dc._msdcs.hospital.local", "wpad.hospital.local", "sccm01.hospital.local",
		"citrix.hospital.local", "intranet.hospital.local", "login.microsoftonline.com", "outlook.office365.com",
		"teams.microsoft.com", "www.msftconnecttest.com", "ctldl.windowsupdate.com", "settings-win.data.microsoft.com",
		"edge.microsoft.com", "www.google.com", "www.uptodate.com", "pubmed.ncbi.nlm.nih.gov", "www.bnf.org",
		"fonts.gstatic.com", "clients2.google.com", "update.googleapis.com", "nexus.officeapps.live.com"}
	wsSNI   = wsNames[10:]
	wsJA4   = []string{"t13d1516h2_8daaf6152771_02713d6af862", "t13d1517h2_8daaf6152771_b1ff8ab2d16f", "t12d190800_d83cc789557e_7af1ed941c26"}
	mobSNI  = []string{"gateway.icloud.com", "mobile.events.data.microsoft.com", "graph.facebook.com", "www.google.com", "i.instagram.com", "api.whatsapp.net", "play.googleapis.com", "time.apple.com"}
	mobJA4  = []string{"t13d1715h2_5b57614c22b0_3d5424432f57", "t13d2014h2_a09f3c656075_14788d8d241b"}
	winFP   = "1,3,6,15,31,33,43,44,46,47,119,121,249,252"
	embedFP = "1,3,6,12,15,28,42"
)

func (s *sim) run() {
	d := s.d
	switch d.kind {
	case kindGateway:
		s.arp(3)
		desc := "Cisco IOS XE Software, Catalyst L3 Switch Software (CAT9K_IOSXE), Version 17.9.4a, RELEASE SOFTWARE (fc3)"
		s.times(4, func(t time.Time) {
			s.said(t, "snmp.sys_descr", desc, "snmp", 0.9, "GetResponse sysDescr.0")
			s.said(t, "snmp.sys_name", d.name, "snmp", 0.9, "GetResponse sysName.0")
		})
		s.times(2, func(t time.Time) {
			s.linkSaid(t, "lldp.capabilities", "bridge,router", "lldp", 0.95, "LLDP system capabilities")
		})

	case kindServer:
		s.serverDay()

	case kindPump:
		vc, srv, sni, ja4 := "BBraun SpaceCom2", "pumps-bbraun", "spaceonline.hospital.local", "t12d1209h1_5b6bd3f5e6c4_2dae41c691ec"
		if d.mac[:8] == "00:d0:75" {
			vc, srv, sni, ja4 = "CareFusion Alaris PCU", "pumps-bd", "asm.hospital.local", "t12d0909h1_1b6ab2c4e1d0_4f2e9a1c0b7d"
		}
		s.dhcpDay(6*time.Hour, vc, embedFP, false)
		t := s.when(0, 2*time.Hour)
		s.said(t, "tls.ja4", ja4, "tls", 0.9, "ClientHello (JA4 fingerprint)")
		s.said(t, "tls.sni", sni, "tls", 1.0, "ClientHello server_name extension")
		s.often(90*time.Minute, func(t time.Time) {
			s.flow(t, s.secs(2, 20), "tcp", "tls", s.self(t, s.port()), s.server(srv, 443), 4000, 9000, nil, 0)
		})
		s.dns(2, "dc1", "dc2")

	case kindMonitor, kindDraeger:
		vc := map[string]string{"00:09:5c": "PHILIPS IntelliVue MX450", "44:4b:5d": "GE CARESCAPE B450",
			"00:0f:14": "Mindray BeneVision N12", "00:10:5d": "Draeger Infinity M540"}[d.mac[:8]]
		s.dhcpDay(6*time.Hour, vc, embedFP, false)
		central := d.vlan.peers[kindCentral][0]
		// The central station's connection, reset every six hours.
		s.often(6*time.Hour, func(t time.Time) {
			s.flow(t, 5*time.Hour+s.secs(0, 3000), "tcp", "", s.self(t, s.port()),
				events.Endpoint{MAC: central.mac, IP: central.ip, Port: 24105}, 3_000_000, 200_000, nil, 2*time.Hour)
		})
		s.ntp(2)

	case kindCentral:
		s.arp(2)
		s.said(s.when(0, time.Hour), "netbios.name", d.name, "netbios", 0.9, "NBNS name registration")
		// HL7 results to the engine over a long MLLP connection.
		for i := range 2 {
			t := scaleDay.Add(time.Duration(i)*12*time.Hour + s.secs(0, 600))
			for _, f := range [][2]string{{"hl7.sending_application", "PIC_IX"}, {"hl7.sending_facility", "VL" + strconv.Itoa(int(d.vlan.id))},
				{"hl7.receiving_application", "HL7ENGINE"}, {"hl7.message_type", "ORU^R01"}, {"hl7.version", "2.6"}} {
				s.said(t, f[0], f[1], "hl7", 0.9, "MSH segment")
			}
			s.flow(t, 11*time.Hour+s.secs(0, 1800), "tcp", "hl7", s.self(t, s.port()), s.server("hl7-engine1", 2575),
				40_000_000, 2_000_000, map[string]uint64{"hl7.messages": 20_000}, time.Hour)
		}
		s.dns(2, "dc1", "dc2")

	case kindAnalyser:
		app := "ATELLICA"
		if d.mac[:8] == "00:e0:90" {
			app = "DXH"
		}
		s.dhcpDay(8*time.Hour, "", embedFP, false)
		s.times(8, func(t time.Time) {
			s.said(t, "hl7.sending_application", app, "hl7", 0.9, "MSH-3")
			s.said(t, "hl7.message_type", "ORU^R01", "hl7", 0.9, "MSH-9")
			s.flow(t, s.secs(1, 30), "tcp", "hl7", s.self(t, s.port()), s.server("lis", 2575), 30_000, 2_000,
				map[string]uint64{"hl7.messages": uint64(10 + s.rng.IntN(90))}, 0)
		})

	case kindModality:
		s.arp(2)
		modality := map[byte]string{'C': "CT", 'U': "US", 'M': "MR", 'D': "DX"}[d.name[0]]
		ae := modality + "_" + strconv.Itoa(d.n%1000)
		s.said(s.when(0, 2*time.Hour), "dicom.modality", modality, "dicom", 0.9, "C-STORE dataset (0008,0060)")
		s.said(s.when(0, 2*time.Hour), "dicom.implementation_version", "SYNGO_VB20A", "dicom", 0.9, "A-ASSOCIATE-RQ implementation version")
		s.said(s.when(0, 2*time.Hour), "dicom.station_name", d.name, "dicom", 0.9, "C-STORE dataset (0008,1010)")
		s.times(15+s.rng.IntN(10), func(t time.Time) {
			// A study to the PACS, after a worklist query to the RIS.
			s.said(t, "dicom.ae_title", ae, "dicom", 0.9, "A-ASSOCIATE-RQ calling AE title")
			s.said(t, "dicom.role", "scu", "dicom", 0.8, "A-ASSOCIATE-RQ sender (association requester)")
			s.flow(t, s.secs(1, 3), "tcp", "dicom", s.self(t, s.port()), s.server("ris", 104), 3_000, 8_000,
				map[string]uint64{"dicom.associations": 1, "dicom.c_find_rq": 1}, 0)
			images := uint64(100 + s.rng.IntN(1500))
			s.flow(t.Add(20*time.Minute), s.secs(30, 600), "tcp", "dicom", s.self(t, s.port()), s.server([]string{"pacs1", "pacs2"}[d.n%2], 104),
				images*500_000, images*200, map[string]uint64{"dicom.associations": 1, "dicom.c_store_rq": images}, 0)
		})

	case kindImagingWS:
		s.dhcpDay(8*time.Hour, "MSFT 5.0", winFP, true)
		ae := "RADWS" + strconv.Itoa(d.n%10000)
		s.times(8, func(t time.Time) {
			s.said(t, "dicom.ae_title", ae, "dicom", 0.9, "A-ASSOCIATE-RQ calling AE title")
			s.said(t, "dicom.role", "scu", "dicom", 0.8, "A-ASSOCIATE-RQ sender (association requester)")
			s.flow(t, s.secs(1, 5), "tcp", "dicom", s.self(t, s.port()), s.server("pacs1", 104), 5_000, 20_000,
				map[string]uint64{"dicom.associations": 1, "dicom.c_find_rq": 3, "dicom.c_move_rq": 1}, 0)
			// The PACS sends the study back.
			u := t.Add(5 * time.Second)
			s.said(u, "dicom.ae_title", ae, "dicom", 0.8, "A-ASSOCIATE-AC called AE title")
			s.said(u, "dicom.role", "scp", "dicom", 0.8, "A-ASSOCIATE-AC sender (association acceptor)")
			images := uint64(100 + s.rng.IntN(800))
			s.flow(u, s.secs(20, 300), "tcp", "dicom", s.server("pacs1", s.port()), s.self(u, 104), images*200, images*500_000,
				map[string]uint64{"dicom.associations": 1, "dicom.c_store_rq": images}, 0)
		})
		s.times(3, func(t time.Time) {
			s.said(t, "dns.query", wsNames[s.rng.IntN(10)], "dns", 1.0, "A query")
		})
		s.dns(3, "dc1", "dc2")

	case kindWorkstation:
		s.dhcpDay(8*time.Hour, "MSFT 5.0", winFP, true)
		s.said(s.when(0, 3*time.Hour), "netbios.name", d.name, "netbios", 0.9, "NBNS name registration")
		s.said(s.when(0, 3*time.Hour), "smb.dialect", "3.1.1", "smb", 0.9, "SMB2 NEGOTIATE")
		s.said(s.when(0, 3*time.Hour), "tls.ja4", wsJA4[d.variant%len(wsJA4)], "tls", 0.9, "ClientHello (JA4 fingerprint)")
		s.times(5, func(t time.Time) { s.said(t, "dns.query", wsNames[s.rng.IntN(len(wsNames))], "dns", 1.0, "A query") })
		s.times(2, func(t time.Time) {
			s.said(t, "tls.sni", wsSNI[s.rng.IntN(len(wsSNI))], "tls", 1.0, "ClientHello server_name extension")
		})
		s.times(4, func(t time.Time) {
			s.flow(t, s.secs(60, 3600), "tcp", "tls", s.self(t, s.port()), s.server([]string{"ehr1", "ehr2", "ehr3"}[s.rng.IntN(3)], 443),
				400_000, 4_000_000, nil, 0)
		})
		s.times(2, func(t time.Time) {
			s.flow(t, s.secs(0, 1), "tcp", "kerberos", s.self(t, s.port()), s.server([]string{"dc1", "dc2"}[s.rng.IntN(2)], 88), 1_500, 1_800, nil, 0)
		})
		s.times(1, func(t time.Time) {
			s.flow(t, s.secs(0, 2), "tcp", "ldap", s.self(t, s.port()), s.server("dc1", 389), 800, 3_000, nil, 0)
		})
		s.times(1, func(t time.Time) {
			s.flow(t, s.secs(600, 7200), "tcp", "smb", s.self(t, s.port()), s.server("file1", 445), 2_000_000, 20_000_000, nil, 0)
		})
		s.times(2, func(t time.Time) {
			s.flow(t, s.secs(5, 600), "tcp", "http", s.self(t, s.port()), s.server("proxy", 8080), 50_000, 900_000, nil, 0)
		})
		s.dns(3, "dc1", "dc2")
		if d.variant%3 == 0 {
			s.times(1, func(t time.Time) {
				if p, ok := s.peer(kindPrinter, t, 9100); ok {
					s.flow(t, s.secs(2, 60), "tcp", "", s.self(t, s.port()), p, 800_000, 2_000, nil, 0)
				}
			})
		}
		if d.variant%10 == 0 {
			s.times(1, func(t time.Time) {
				s.flow(t, s.secs(5, 120), "tcp", "smb", s.self(t, s.port()), s.server("sccm", 445), 20_000, 5_000_000, nil, 0)
			})
		}

	case kindPrinter:
		var vc, desc string
		switch d.mac[:8] {
		case "00:01:e6":
			vc, desc = "Hewlett-Packard JetDirect", "HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153,EEPROM JSI24090012,CIDATE 02/20/2019"
		case "00:20:00":
			vc = fmt.Sprintf("Mfg=LEXMARK;Typ=Printer;Mod=Lexmark MS310dn;Ser=%013X;", d.n)
			desc = "Lexmark MS310dn version NH.HS2.N211 kernel 3.0.0 All-N-1"
		default:
			vc, desc = "Zebra Technologies ZTC ZD410-203dpi ZPL", "ZTC ZD410-203dpi ZPL"
		}
		s.dhcpDay(12*time.Hour, vc, "1,3,44,6,7,12,15,22,54,58,59,69,18,144,81,119", false)
		s.times(2, func(t time.Time) {
			s.flow(t, s.secs(0, 1), "udp", "snmp", s.server("nms", s.port()), s.self(t, 161), 200, 400, nil, 0)
			s.said(t, "snmp.sys_descr", desc, "snmp", 0.9, "GetResponse sysDescr.0")
		})
		s.times(6, func(t time.Time) {
			s.flow(t, s.secs(2, 60), "tcp", "", s.server("print1", s.port()), s.self(t, 9100), 600_000, 2_000, nil, 0)
		})

	case kindPhone:
		var vc string
		switch d.mac[:8] {
		case "00:04:f2":
			vc = "Polycom-VVX410"
		case "24:9a:d8":
			vc = "yealink"
		default:
			vc = "Cisco Systems, Inc. IP Phone CP-8865NR"
		}
		s.dhcpDay(8*time.Hour, vc, "1,3,6,15,42,43,66,150", false)
		s.times(1, func(t time.Time) {
			s.flow(t, s.secs(0, 2), "udp", "tftp", s.self(t, s.port()), s.server("tftp", 69), 500, 40_000, nil, 0)
		})
		s.often(3*time.Hour, func(t time.Time) {
			s.flow(t, s.secs(1, 5), "tcp", "sip", s.self(t, s.port()), s.server([]string{"cucm1", "cucm2"}[d.n%2], 5061), 3_000, 2_500, nil, 0)
		})
		s.times(3, func(t time.Time) {
			if p, ok := s.peer(kindPhone, t, uint16(16384+2*s.rng.IntN(8000))); ok {
				s.flow(t, s.secs(30, 600), "udp", "rtp", s.self(t, uint16(16384+2*s.rng.IntN(8000))), p, 2_000_000, 2_000_000, nil, 0)
			}
		})

	case kindCamera:
		vc := "AXIS,Network Camera,P3225-LV Mk II,9.70.1.5"
		if d.mac[:8] == "04:03:12" {
			vc = ""
		}
		s.dhcpDay(12*time.Hour, vc, embedFP, false)
		nvr := []string{"nvr1", "nvr2"}[d.n%2]
		s.often(6*time.Hour, func(t time.Time) {
			s.flow(t, 5*time.Hour+s.secs(0, 3000), "tcp", "rtsp", s.server(nvr, s.port()), s.self(t, 554), 100_000, 4_000_000_000, nil, time.Hour)
		})
		s.ntp(2)

	case kindBuilding:
		s.arp(2)
		s.said(s.when(0, 4*time.Hour), "bacnet.device_instance", strconv.Itoa(100000+d.n), "bacnet", 0.95, "I-Am device identifier")
		s.said(s.when(0, 4*time.Hour), "bacnet.vendor_id", "5", "bacnet", 0.95, "I-Am vendor identifier")
		s.said(s.when(0, 4*time.Hour), "vendor", "Johnson Controls", "bacnet", 0.8, "I-Am vendor identifier (ASHRAE vendor ID table)")
		s.said(s.when(0, 4*time.Hour), "model", "NAE5510", "bacnet", 0.95, "ReadProperty model-name")
		s.times(6, func(t time.Time) {
			if p, ok := s.peer(kindBuilding, t, 47808); ok {
				s.flow(t, s.secs(0, 1), "udp", "bacnet", s.self(t, 47808), p, 300, 600, nil, 0)
			}
		})
		s.times(4, func(t time.Time) {
			s.flow(t, s.secs(0, 1), "udp", "bacnet", s.server("bms", 47808), s.self(t, 47808), 300, 900, nil, 0)
		})

	case kindSwitch:
		s.arp(2)
		desc, caps := "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E8, RELEASE SOFTWARE (fc1)", "bridge"
		if d.mac[:8] == "00:0b:86" {
			desc, caps = "ArubaOS (MODEL: 535), Version 8.10.0.6", "bridge,wlan"
		}
		s.times(6, func(t time.Time) {
			s.flow(t, s.secs(0, 1), "udp", "snmp", s.server("nms", s.port()), s.self(t, 161), 300, 900, nil, 0)
			s.said(t, "snmp.sys_descr", desc, "snmp", 0.9, "GetResponse sysDescr.0")
			s.said(t, "snmp.sys_name", d.name, "snmp", 0.9, "GetResponse sysName.0")
		})
		s.times(2, func(t time.Time) { s.linkSaid(t, "lldp.capabilities", caps, "lldp", 0.95, "LLDP system capabilities") })
		s.times(4, func(t time.Time) {
			s.flow(t, 0, "udp", "syslog", s.self(t, 514), s.server("syslog", 514), 200, 0, nil, 0)
		})
		s.times(1, func(t time.Time) {
			s.flow(t, s.secs(0, 1), "tcp", "tacacs", s.self(t, s.port()), s.server("tacacs", 49), 300, 300, nil, 0)
		})

	case kindMobile:
		vc, fp := "android-dhcp-13", "1,3,6,15,26,28,51,58,59,43"
		if d.name == "iPhone" {
			vc, fp = "", "1,121,3,6,15,108,114,119,252,95,44,46"
		}
		s.dhcpDay(6*time.Hour, vc, fp, false)
		s.said(s.when(0, 3*time.Hour), "tls.ja4", mobJA4[d.variant%2], "tls", 0.9, "ClientHello (JA4 fingerprint)")
		s.times(4, func(t time.Time) { s.said(t, "dns.query", mobSNI[s.rng.IntN(len(mobSNI))], "dns", 1.0, "A query") })
		s.times(3, func(t time.Time) {
			s.said(t, "tls.sni", mobSNI[s.rng.IntN(len(mobSNI))], "tls", 1.0, "ClientHello server_name extension")
		})
		s.dns(3, "dc1", "dc2")
		s.times(6, func(t time.Time) {
			s.flow(t, s.secs(1, 900), "tcp", "tls", s.self(t, s.port()), s.internet(443), 50_000, 3_000_000, nil, 0)
		})
	}
}

// serverDay is a data-centre server's day: its address from ARP, its
// names, and its flows to the other servers.
func (s *sim) serverDay() {
	d := s.d
	s.arp(3)
	s.said(s.when(0, 6*time.Hour), "netbios.name", d.name, "netbios", 0.9, "NBNS name registration")
	s.said(s.when(0, 6*time.Hour), "tls.cert_subject", "CN="+strings.ToLower(d.role)+".hospital.local", "tls", 0.9, "server Certificate leaf subject")
	dcs := []string{"dc1", "dc2"}
	if i := slices.Index(dcs, d.role); i >= 0 {
		dcs = slices.Delete(dcs, i, i+1) // the other one
	}
	s.times(3, func(t time.Time) {
		s.flow(t, s.secs(0, 1), "tcp", "kerberos", s.self(t, s.port()), s.server(dcs[s.rng.IntN(len(dcs))], 88), 1_500, 1_800, nil, 0)
	})
	s.dns(4, dcs...)
	hl7 := func(to string, every time.Duration) {
		t := scaleDay.Add(s.secs(0, 600))
		s.flow(t, 23*time.Hour, "tcp", "hl7", s.self(t, s.port()), s.server(to, 2575), 30_000_000, 1_000_000,
			map[string]uint64{"hl7.messages": 30_000}, every)
	}
	switch d.role {
	case "hl7-engine1", "hl7-engine2":
		s.said(s.when(0, time.Hour), "hl7.sending_application", "HL7ENGINE", "hl7", 0.9, "MSH-3")
		for _, to := range []string{"ehr1", "ehr2", "ehr3", "lis", "ris"} {
			hl7(to, time.Hour)
		}
	case "ehr1", "ehr2", "ehr3", "lis", "ris":
		s.said(s.when(0, time.Hour), "hl7.sending_application", strings.ToUpper(strings.TrimRight(d.role, "123")), "hl7", 0.9, "MSH-3")
		hl7("hl7-engine2", time.Hour)
	case "pacs1", "pacs2", "vna":
		ae := strings.ToUpper(d.role)
		s.times(6, func(t time.Time) {
			s.said(t, "dicom.ae_title", ae, "dicom", 0.8, "A-ASSOCIATE-AC called AE title")
			s.said(t, "dicom.role", "scp", "dicom", 0.8, "A-ASSOCIATE-AC sender (association acceptor)")
		})
		if d.role != "vna" {
			s.times(10, func(t time.Time) {
				images := uint64(100 + s.rng.IntN(1500))
				s.flow(t, s.secs(30, 600), "tcp", "dicom", s.self(t, s.port()), s.server("vna", 104), images*500_000, images*200,
					map[string]uint64{"dicom.associations": 1, "dicom.c_store_rq": images}, 0)
			})
		}
	case "backup":
		// The nightly backup of every server.
		for _, srv := range s.h.devices {
			if srv.kind == kindServer && srv != d {
				t := scaleDay.Add(time.Hour + s.secs(0, 4*3600))
				s.flow(t, s.secs(600, 3600), "tcp", "", s.self(t, s.port()), events.Endpoint{MAC: srv.mac, IP: srv.ip, Port: 10000},
					1_000_000, 5_000_000_000, nil, 0)
			}
		}
	}
}

// scaleLog describes a log written by writeHospitalLog.
type scaleLog struct {
	path                 string
	events, observations int
	flows                int
	bytes                int64
}

// writeHospitalLog generates the day of a hospital of n devices and
// writes its events, in time order, as the JSON payloads JetStream holds,
// each prefixed by its length (uvarint).
func writeHospitalLog(tb testing.TB, path string, n int) (*hospital, scaleLog) {
	tb.Helper()
	h := newHospital(n)
	workers := runtime.GOMAXPROCS(0)
	parts := make([][]simEvent, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(h.devices); i += workers {
				s := &sim{h: h, d: h.devices[i], rng: rand.New(rand.NewPCG(scaleSeed, uint64(i)+1)), out: parts[w]}
				s.run()
				parts[w] = s.out
			}
		})
	}
	wg.Wait()
	all := slices.Concat(parts...)
	parts = nil
	slices.SortFunc(all, func(a, b simEvent) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.dev, b.dev), cmp.Compare(a.seq, b.seq))
	})

	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	st := scaleLog{path: path, events: len(all)}
	var hdr [binary.MaxVarintLen64]byte
	for i, e := range all {
		if e.flow {
			st.flows++
		} else {
			st.observations++
		}
		bw.Write(hdr[:binary.PutUvarint(hdr[:], uint64(len(e.payload)))])
		if _, err := bw.Write(e.payload); err != nil {
			tb.Fatal(err)
		}
		st.bytes += int64(len(e.payload))
		all[i].payload = nil // written: let it go
	}
	if err := bw.Flush(); err != nil {
		tb.Fatal(err)
	}
	return h, st
}

// replay feeds the log to m as the inventory component does with the
// stream: the header decoded to route by kind, then the typed event. It
// returns the number of events and of device changes.
func replay(tb testing.TB, path string, m *inventory.Model) (evs, changes int) {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var buf []byte
	for {
		n, err := binary.ReadUvarint(r)
		if err == io.EOF {
			return evs, changes
		}
		if err != nil {
			tb.Fatal(err)
		}
		buf = slices.Grow(buf[:0], int(n))[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			tb.Fatal(err)
		}
		h, err := events.DecodeHeader(buf)
		if err != nil {
			tb.Fatal(err)
		}
		switch h.Kind {
		case events.KindFlow:
			ev, err := events.Decode[events.Flow](buf)
			if err != nil {
				tb.Fatal(err)
			}
			changes += len(m.ObserveFlow(ev))
		case events.KindObservation:
			ev, err := events.Decode[events.Observation](buf)
			if err != nil {
				tb.Fatal(err)
			}
			changes += len(m.ObserveAttribute(ev))
		}
		evs++
	}
}

// heapAlloc is the live heap after two collections (the second frees
// what sync.Pools, encoding/json's buffers among them, kept from the first).
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestScaleHundredThousand rebuilds a 100 000-device hospital from its
// log, checks the count, and round-trips the checkpoint. It takes
// minutes and some gigabytes, so it only runs when asked:
//
//	VIGIL_SCALE=1 go test -run TestScaleHundredThousand -v ./inventory/
//
// It is skipped with -short and without VIGIL_SCALE=1, to keep the normal
// suite fast. BenchmarkRebuild measures the same rebuild.
func TestScaleHundredThousand(t *testing.T) {
	if testing.Short() || os.Getenv("VIGIL_SCALE") != "1" {
		t.Skip("scale test: set VIGIL_SCALE=1 (and no -short) to run it")
	}
	checkScale(t, 100_000)
}

func checkScale(t *testing.T, n int) {
	begin := time.Now()
	h, lg := writeHospitalLog(t, filepath.Join(t.TempDir(), "log"), n)
	t.Logf("log: %d devices in %d VLANs, %d events (%d observations, %d flows), %.1f MB of JSON, generated in %s",
		n, len(h.vlans), lg.events, lg.observations, lg.flows, float64(lg.bytes)/1e6, time.Since(begin).Round(time.Millisecond))

	cfg, opt := scaleConfig(h), scaleOptions(t, h)
	base := heapAlloc()
	m := inventory.NewModel(cfg, sensor, opt)
	begin = time.Now()
	evs, changes := replay(t, lg.path, m)
	took := time.Since(begin)
	heap := heapAlloc() - base
	t.Logf("rebuild: %d events in %s (%.0f events/s), %d device changes; heap %.1f MB, %.0f bytes/device",
		evs, took.Round(time.Millisecond), float64(evs)/took.Seconds(), changes, float64(heap)/1e6, float64(heap)/float64(n))

	st := m.Stats()
	if st.Devices != n || st.DevicesDropped != 0 {
		t.Fatalf("stats = %+v, want %d devices and none dropped", st, n)
	}
	want := m.Devices()
	categories := map[string]int{}
	for i := range want {
		d := &want[i]
		categories[d.Classification.Category]++
		if d.Gateway || d.Routed {
			t.Errorf("device %s (%s): gateway %v, routed %v: the log keeps routers under GatewayAddresses", d.ID, d.Key, d.Gateway, d.Routed)
		}
	}
	t.Logf("categories: %v", categories)
	t.Logf("kinds generated: %v", h.kinds)

	begin = time.Now()
	state, err := m.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	marshal := time.Since(begin)
	before := heapAlloc()
	restored := inventory.NewModel(cfg, sensor, opt)
	begin = time.Now()
	if err := restored.RestoreState(state); err != nil {
		t.Fatal(err)
	}
	restore := time.Since(begin)
	restoredHeap := int64(heapAlloc()) - int64(before)
	runtime.KeepAlive(m) // both live across the two measurements
	runtime.KeepAlive(state)
	t.Logf("checkpoint: %d bytes (%.0f bytes/device), marshalled in %s, restored in %s; restored model heap %.0f bytes/device",
		len(state), float64(len(state))/float64(n), marshal.Round(time.Millisecond), restore.Round(time.Millisecond),
		float64(restoredHeap)/float64(n))

	if diff := gocmp.Diff(st, restored.Stats()); diff != "" {
		t.Errorf("restored stats (-want +got):\n%s", diff)
	}
	got := restored.Devices()
	if len(got) != len(want) {
		t.Fatalf("restored %d devices, want %d", len(got), len(want))
	}
	opts := gocmp.Options{cmpopts.IgnoreUnexported(inventory.Device{}), cmpopts.EquateEmpty()}
	for i := 0; i < len(want); i += 499 {
		if diff := gocmp.Diff(want[i], got[i], opts); diff != "" {
			t.Fatalf("restored device %d (%s) (-want +got):\n%s", i, want[i].Key, diff)
		}
	}
}
