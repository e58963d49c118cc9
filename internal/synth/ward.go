package synth

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/gopacket/gopacket"
)

// Well-known addresses and names of the ward.
const (
	wardVLAN   = 20
	wardDomain = "ward3.hospital.example"
	dicomPort  = 104
	hl7Port    = 2575
	httpsPort  = 443
	smbPort    = 445
	// telemetryPort is the UDP port of the monitors' telemetry: the port
	// of the Philips IntelliVue Data Export connect indication.
	telemetryPort = 24105

	ctAETitle   = "CT_SCANNER1"
	pacsAETitle = "PACS_MAIN"
)

var (
	wardPrefix = netip.MustParsePrefix("10.20.0.0/24")
	// internetHost stands for a host on the internet (RFC 5737 TEST-NET-3).
	internetHost = netip.MustParseAddr("203.0.113.45")
)

// lanRTT is the round trip between two hosts of the ward.
const lanRTT = 400 * time.Microsecond

// internetRTT is the round trip from the ward to the internet host.
const internetRTT = 38 * time.Millisecond

// wardDevices returns the ground truth of the ward, in a fixed order.
func wardDevices() []Device {
	mac := func(s string) net.HardwareAddr {
		m, err := net.ParseMAC(s)
		if err != nil {
			panic(err)
		}
		return m
	}
	ip := func(host byte) netip.Addr { return netip.AddrFrom4([4]byte{10, 20, 0, host}) }
	return []Device{
		{Name: "ward-gw", Role: RoleRouter, Vendor: "Cisco Systems, Inc", MAC: mac("00:00:0c:5a:20:01"), IP: ip(1), VLAN: wardVLAN, Hostname: "ward3-gw"},
		{Name: "ct-scanner-1", Role: RoleCT, Vendor: "GE Healthcare", MAC: mac("44:4b:5d:21:7c:03"), IP: ip(10), VLAN: wardVLAN, Hostname: "ct-scanner-1", Medical: true},
		{Name: "pacs-main", Role: RolePACS, Vendor: "Dell Inc.", MAC: mac("d4:ae:52:8a:10:11"), IP: ip(11), VLAN: wardVLAN, Hostname: "pacs-main"},
		{Name: "central-station", Role: RoleCentralStation, Vendor: "Philips Medical Systems - Cardiac and Monitoring Systems (CM", MAC: mac("00:09:5c:2e:44:10"), IP: ip(20), VLAN: wardVLAN, Hostname: "central-station", Medical: true},
		{Name: "pump-server", Role: RolePumpServer, Vendor: "Dell Inc.", MAC: mac("d4:ae:52:8a:10:21"), IP: ip(21), VLAN: wardVLAN, Hostname: "pumpserver"},
		{Name: "ehr-server", Role: RoleEHRServer, Vendor: "Dell Inc.", MAC: mac("d4:ae:52:8a:10:30"), IP: ip(30), VLAN: wardVLAN, Hostname: "ehr"},
		{Name: "hl7-engine", Role: RoleHL7Engine, Vendor: "Dell Inc.", MAC: mac("d4:ae:52:8a:10:31"), IP: ip(31), VLAN: wardVLAN, Hostname: "hl7-engine"},
		{Name: "lab-analyser", Role: RoleLabAnalyser, Vendor: "Roche Diagnostics", MAC: mac("00:60:19:3a:52:07"), IP: ip(40), VLAN: wardVLAN, Hostname: "lab-analyser", Medical: true},
		{Name: "pump-01", Role: RoleInfusionPump, Vendor: "B.Braun Melsungen AG", MAC: mac("00:12:21:4e:0a:11"), IP: ip(101), VLAN: wardVLAN, Hostname: "INF-PUMP-01", Medical: true, DHCP: true, VendorClass: "BBraun-Infusomat-Space"},
		{Name: "pump-02", Role: RoleInfusionPump, Vendor: "B.Braun Melsungen AG", MAC: mac("00:12:21:4e:0a:12"), IP: ip(102), VLAN: wardVLAN, Hostname: "INF-PUMP-02", Medical: true, DHCP: true, VendorClass: "BBraun-Infusomat-Space"},
		{Name: "pump-03", Role: RoleInfusionPump, Vendor: "ALARIS MEDICAL SYSTEMS, INC.", MAC: mac("00:d0:75:13:9c:41"), IP: ip(103), VLAN: wardVLAN, Hostname: "INF-PUMP-03", Medical: true, DHCP: true, VendorClass: "Alaris-PC-8015"},
		{Name: "monitor-01", Role: RolePatientMonitor, Vendor: "Philips Patient Monitoring", MAC: mac("00:09:fb:6d:31:01"), IP: ip(111), VLAN: wardVLAN, Hostname: "MON-BED-01", Medical: true, DHCP: true, VendorClass: "Philips-IntelliVue-MX450"},
		{Name: "monitor-02", Role: RolePatientMonitor, Vendor: "Philips Patient Monitoring", MAC: mac("00:09:fb:6d:31:02"), IP: ip(112), VLAN: wardVLAN, Hostname: "MON-BED-02", Medical: true, DHCP: true, VendorClass: "Philips-IntelliVue-MX450"},
		{Name: "ws-nurse-01", Role: RoleWorkstation, Vendor: "Dell Inc.", MAC: mac("00:14:22:b7:3e:5a"), IP: ip(150), VLAN: wardVLAN, Hostname: "WS-NURSE-01", DHCP: true, VendorClass: "MSFT 5.0"},
	}
}

// ward is the scenario under construction.
type ward struct {
	*gen
	opts    Options
	devices []Device
	hosts   map[string]*host // by device name; looked up, never ranged over
	ready   map[string]time.Time
	end     time.Time // no exchange starts after this
}

// Ward generates the ward scenario for opts. It is deterministic: the same
// Options give the same Devices, Anomalies and Packets.
func Ward(opts Options) *Scenario {
	opts = opts.withDefaults()
	w := &ward{
		gen: &gen{
			rng:      rand.New(rand.NewPCG(uint64(opts.Seed), 0x7669_6769_6c5f_7761)), // "vigil_wa"
			untagged: opts.Untagged,
			vlan:     wardVLAN,
			buf:      gopacket.NewSerializeBuffer(),
		},
		opts:    opts,
		devices: wardDevices(),
		hosts:   map[string]*host{},
		ready:   map[string]time.Time{},
	}
	total := opts.Learning + opts.Detection
	w.end = opts.Start.Add(total - 20*time.Second)
	for i := range w.devices {
		d := &w.devices[i]
		ttl := uint8(64)
		switch d.Role {
		case RoleRouter:
			ttl = 255
		case RoleWorkstation:
			ttl = 128
		}
		w.hosts[d.Name] = &host{
			mac: d.MAC, ip: d.IP, ttl: ttl,
			ipID: uint16(w.rng.Uint32()), port: 49152 + uint16(w.rng.IntN(8000)),
		}
	}

	w.dhcpPhase()
	w.dicom()
	w.labResults()
	w.admissions()
	w.vitalsExport()
	for _, p := range []string{"pump-01", "pump-02", "pump-03"} {
		w.pump(p)
	}
	for i, m := range []string{"monitor-01", "monitor-02"} {
		w.monitor(m, i+1)
	}
	w.workstation()

	var anomalies []Anomaly
	if !opts.NoAnomalies {
		det := opts.Start.Add(opts.Learning)
		at := func(frac float64) time.Time {
			return det.Add(time.Duration(frac * float64(opts.Detection))).Truncate(time.Second)
		}
		anomalies = append(anomalies,
			w.internetAnomaly(at(0.2)),
			w.scanAnomaly(at(0.47)),
			w.newPeerAnomaly(at(0.73)),
		)
	}

	slices.SortStableFunc(w.pkts, func(a, b Packet) int { return a.Time.Compare(b.Time) })
	return &Scenario{Options: opts, Devices: w.devices, Anomalies: anomalies, Packets: w.pkts}
}

// host returns the endpoint of the device called name.
func (w *ward) host(name string) *host { return w.hosts[name] }

// every calls fn at first and then every period, plus or minus jitter,
// while the time is before w.end.
func (w *ward) every(first time.Time, period, jitter time.Duration, fn func(t time.Time)) {
	for t := first; t.Before(w.end); t = t.Add(period + w.between(-jitter, jitter)) {
		fn(t)
	}
}

// dhcpPhase has the DHCP clients join the ward one after the other in the
// first seconds of the capture. Devices with static addresses are ready at
// once.
func (w *ward) dhcpPhase() {
	gw := w.host("ward-gw")
	embedded := []byte{1, 3, 6, 15, 28, 51, 54, 58, 59}
	windows := []byte{1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252}
	t := w.opts.Start.Add(time.Second)
	for i := range w.devices {
		d := &w.devices[i]
		if !d.DHCP {
			w.ready[d.Name] = w.opts.Start.Add(2 * time.Second)
			continue
		}
		params := embedded
		if d.Role == RoleWorkstation {
			params = windows
		}
		acked := w.dora(t.Add(w.between(0, 800*time.Millisecond)), dhcpClient{dev: d, params: params}, gw, wardPrefix, wardDomain)
		w.ready[d.Name] = acked.Add(time.Second)
		t = t.Add(2500 * time.Millisecond)
	}
}

// dicom has the CT scanner send its images to the PACS every few minutes:
// one association with a C-ECHO and one to three C-STOREs.
func (w *ward) dicom() {
	ct, pacs := w.host("ct-scanner-1"), w.host("pacs-main")
	eq := equipment{
		manufacturer: "GE MEDICAL SYSTEMS",
		model:        "Revolution EVO",
		serial:       "SYN-CT-000123",
		software:     "synth_ct_sw_1.4.2",
		station:      "CTWARD3",
	}
	ctImpl := uidSyntheticRoot + "1020304050607080901"
	const pacsImpl, pacsVersion = "1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367"
	first := w.ready["ct-scanner-1"].Add(90*time.Second + w.between(0, time.Minute))
	w.every(first, 4*time.Minute, 45*time.Second, func(t time.Time) {
		c := w.dial(t, ct, pacs, dicomPort, lanRTT)
		c.send(true, associateRQ(pacsAETitle, ctAETitle, ctImpl, "SYNTH_CT_142"))
		c.wait(w.between(time.Millisecond, 3*time.Millisecond))
		c.send(false, associateAC(pacsAETitle, ctAETitle, pacsImpl, pacsVersion))
		msgID := uint16(1)
		c.send(true, pData(pcVerification, true, cEchoRQ(msgID)))
		c.send(false, pData(pcVerification, true, cEchoRSP(msgID)))
		for range 1 + w.rng.IntN(3) {
			msgID++
			inst := w.syntheticUID()
			c.send(true, pData(pcCTStorage, true, cStoreRQ(msgID, inst)))
			c.send(true, pData(pcCTStorage, false, ctDataset(eq, inst)))
			c.ack(false)
			c.wait(w.between(5*time.Millisecond, 30*time.Millisecond)) // PACS stores
			c.send(false, pData(pcCTStorage, true, cStoreRSP(msgID, inst)))
		}
		c.send(true, releasePDU(pduReleaseRQ))
		c.send(false, releasePDU(pduReleaseRP))
		c.close(true)
	})
}

var (
	labParty     = hl7Party{"COBAS", "WARD3_LAB"}
	ehrParty     = hl7Party{"EHR", "HOSPITAL"}
	engineParty  = hl7Party{"HL7ENGINE", "HOSPITAL"}
	stationParty = hl7Party{"PIC_IX", "WARD3"}
)

// hl7Exchange sends one MLLP-framed message on a new connection and reads
// the engine's ACK.
func (w *ward) hl7Exchange(t time.Time, from string, party hl7Party, msg, trigger, controlID string, n int) {
	c := w.dial(t, w.host(from), w.host("hl7-engine"), hl7Port, lanRTT)
	c.send(true, mllp(msg))
	c.wait(w.between(2*time.Millisecond, 10*time.Millisecond))
	c.send(false, mllp(hl7Ack(engineParty, party, c.t, trigger, controlID, fmt.Sprintf("ACK%06d", n))))
	c.ack(true)
	c.close(true)
}

// labResults has the lab analyser send a glucose result every minute and a
// half.
func (w *ward) labResults() {
	n := 0
	first := w.ready["lab-analyser"].Add(20*time.Second + w.between(0, 30*time.Second))
	w.every(first, 90*time.Second, 20*time.Second, func(t time.Time) {
		n++
		id := fmt.Sprintf("LAB%06d", n)
		glucose := 4.0 + float64(w.rng.IntN(40))/10
		w.hl7Exchange(t, "lab-analyser", labParty, oruR01(labParty, engineParty, t, id, glucose), "R01", id, n)
	})
}

// admissions has the EHR announce an admission every ten minutes or so.
func (w *ward) admissions() {
	n := 0
	first := w.ready["ehr-server"].Add(3 * time.Minute)
	w.every(first, 11*time.Minute, 2*time.Minute, func(t time.Time) {
		n++
		id := fmt.Sprintf("ADT%06d", n)
		w.hl7Exchange(t, "ehr-server", ehrParty, adtA01(ehrParty, engineParty, t, id, 1+w.rng.IntN(12)), "A01", id, 10000+n)
	})
}

// vitalsExport has the central station forward the latest vital signs of
// each bed to the HL7 engine every five minutes.
func (w *ward) vitalsExport() {
	n := 0
	first := w.ready["central-station"].Add(time.Minute + w.between(0, 30*time.Second))
	w.every(first, 5*time.Minute, 30*time.Second, func(t time.Time) {
		for bed := 1; bed <= 2; bed++ {
			n++
			id := fmt.Sprintf("VS%06d", n)
			msg := oruVitals(stationParty, engineParty, t, id, 60+w.rng.IntN(40), 94+w.rng.IntN(6))
			w.hl7Exchange(t, "central-station", stationParty, msg, "R01", id, 20000+n)
			t = t.Add(w.between(50*time.Millisecond, 300*time.Millisecond))
		}
	})
}

// pump has an infusion pump report its status to the pump server over TLS
// every two minutes.
func (w *ward) pump(name string) {
	p, srv := w.host(name), w.host("pump-server")
	first := w.ready[name].Add(w.between(5*time.Second, time.Minute))
	w.every(first, 2*time.Minute, 15*time.Second, func(t time.Time) {
		c := w.dial(t, p, srv, httpsPort, lanRTT)
		w.tlsSession(c, "pumpserver."+wardDomain, 200+w.rng.IntN(200), 80+w.rng.IntN(80))
		c.close(true)
	})
}

// monitor has a patient monitor stream telemetry to the central station
// every ten seconds.
func (w *ward) monitor(name string, bed int) {
	m, cs := w.host(name), w.host("central-station")
	var seq uint32
	first := w.ready[name].Add(w.between(time.Second, 10*time.Second))
	w.every(first, 10*time.Second, 200*time.Millisecond, func(t time.Time) {
		seq++
		w.udp(t, m, cs, telemetryPort, telemetryPort, w.telemetry(seq, bed))
	})
}

// telemetry returns one synthetic vital-signs datagram. It is no real
// vendor protocol: a version, a sequence number, the bed and six vital
// signs in tenths, padded to 64 bytes.
func (w *ward) telemetry(seq uint32, bed int) []byte {
	b := make([]byte, 0, 64)
	b = append(b, 1, 0) // version, message type
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint16(b, uint16(bed))
	for _, v := range []struct{ base, spread int }{
		{720, 150},  // heart rate, /min
		{970, 25},   // SpO2, %
		{160, 40},   // respiration, /min
		{1200, 150}, // systolic, mmHg
		{780, 100},  // diastolic, mmHg
		{368, 8},    // temperature, °C
	} {
		b = binary.BigEndian.AppendUint16(b, uint16(v.base+w.rng.IntN(v.spread)))
	}
	return append(b, make([]byte, 64-len(b))...)
}

// workstation has the nurses' workstation resolve the EHR and open it
// every few minutes.
func (w *ward) workstation() {
	ws, gw, ehr := w.host("ws-nurse-01"), w.host("ward-gw"), w.host("ehr-server")
	name := "ehr." + wardDomain
	first := w.ready["ws-nurse-01"].Add(30 * time.Second)
	w.every(first, 3*time.Minute, time.Minute, func(t time.Time) {
		t = w.dnsLookup(t, ws, gw, name, ehr.ip)
		c := w.dial(t.Add(w.between(200*time.Microsecond, time.Millisecond)), ws, ehr, httpsPort, lanRTT)
		w.tlsSession(c, name, 400+w.rng.IntN(300), 3000+w.rng.IntN(6000))
		c.close(true)
	})
}

// mark returns a function that, called after an anomaly's packets are
// generated, fills in its Start and End.
func (w *ward) mark(a *Anomaly) func() {
	from := len(w.pkts)
	return func() {
		a.Start, a.End = w.pkts[from].Time, w.pkts[from].Time
		for _, p := range w.pkts[from:] {
			if p.Time.After(a.End) {
				a.End = p.Time
			}
		}
	}
}
