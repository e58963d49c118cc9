package synth

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// SyntheticPatientName is the only patient name the scenario ever puts on
// the wire (HL7 PID-5, DICOM (0010,0010)). Tests that prove patient data
// never leaves the sensor search for it.
const SyntheticPatientName = "SYNTHETIC^PATIENT"

// Options parameterise a scenario. The zero value of each field is its
// default, so Ward(Options{}) is Ward(DefaultOptions()).
type Options struct {
	// Start is the event time of the capture's beginning.
	Start time.Time
	// Learning is how long only normal traffic flows, from Start.
	Learning time.Duration
	// Detection is how long normal traffic goes on after Learning, with
	// the anomalies injected. Learning and Detection are raised to one
	// minute if shorter.
	Detection time.Duration
	// Seed selects the random choices (timing jitter, sequence numbers,
	// payload bytes). Same Options, same capture, byte for byte.
	Seed int64
	// Untagged leaves the 802.1Q tag off every frame, as a SPAN port
	// that strips tags delivers them. Devices keep their VLAN as ground
	// truth either way.
	Untagged bool
	// NoAnomalies generates the detection phase with normal traffic
	// only: a capture on which no alert should fire.
	NoAnomalies bool
}

// DefaultOptions returns the options of `vigil demo`: Monday 5 January
// 2026 from 08:00 UTC, 30 minutes of learning, then 15 minutes of
// detection, seed 0, tagged VLAN 20, anomalies injected.
func DefaultOptions() Options {
	return Options{
		Start:     time.Date(2026, time.January, 5, 8, 0, 0, 0, time.UTC),
		Learning:  30 * time.Minute,
		Detection: 15 * time.Minute,
	}
}

// withDefaults fills the zero fields of o.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Start.IsZero() {
		o.Start = d.Start
	}
	if o.Learning == 0 {
		o.Learning = d.Learning
	}
	if o.Detection == 0 {
		o.Detection = d.Detection
	}
	o.Learning = max(o.Learning, time.Minute)
	o.Detection = max(o.Detection, time.Minute)
	return o
}

// Role is what a device does on the ward.
type Role string

// Roles of the ward's devices.
const (
	RoleRouter         Role = "router"
	RoleCT             Role = "ct"
	RolePACS           Role = "pacs"
	RoleInfusionPump   Role = "infusion_pump"
	RolePumpServer     Role = "pump_server"
	RolePatientMonitor Role = "patient_monitor"
	RoleCentralStation Role = "central_station"
	RoleWorkstation    Role = "workstation"
	RoleEHRServer      Role = "ehr_server"
	RoleHL7Engine      Role = "hl7_engine"
	RoleLabAnalyser    Role = "lab_analyser"
)

// Device is the ground truth about one device of the scenario.
type Device struct {
	// Name is the scenario's short name, unique ("pump-01").
	Name string
	Role Role
	// Vendor is the IEEE registry organisation of the MAC's OUI.
	Vendor string
	MAC    net.HardwareAddr
	IP     netip.Addr
	// VLAN is the 802.1Q VLAN of the device's access port.
	VLAN uint16
	// Hostname is what the device calls itself: DHCP option 12 for DHCP
	// clients, otherwise its DNS-style name (not seen on the wire).
	Hostname string
	// Medical reports whether the device is a medical device (modality,
	// pump, monitor, central station, analyser) rather than IT.
	Medical bool
	// DHCP reports whether the device gets its address by DHCP in the
	// capture; VendorClass is then its option 60.
	DHCP        bool
	VendorClass string
}

// Kinds of anomaly.
const (
	// KindInternet is a medical device connecting to an internet address.
	KindInternet = "internet"
	// KindScan is a TCP SYN scan of many ports of one host.
	KindScan = "scan"
	// KindNewPeer is a device talking to a peer it never talked to
	// during learning.
	KindNewPeer = "new_peer"
)

// Anomaly is the ground truth about one injected anomaly.
type Anomaly struct {
	Kind string
	// Device is the Name of the device that misbehaves (the initiator).
	Device string
	// Peer is the address it talks to; PeerDevice the Name of that peer
	// when it is a device of the scenario, else empty.
	Peer       netip.Addr
	PeerDevice string
	// Ports are the destination ports the device contacts, ascending.
	Ports []uint16
	// Start and End are the times of the anomaly's first and last packet.
	Start, End time.Time
	// Note says in a sentence what happens.
	Note string
}

// Packet is one captured Ethernet frame.
type Packet struct {
	Time time.Time
	Data []byte
}

// Scenario is a generated capture with its ground truth.
type Scenario struct {
	// Options are the effective options, defaults filled in.
	Options   Options
	Devices   []Device
	Anomalies []Anomaly
	// Packets are in capture order: by time, ties in generation order.
	Packets []Packet
}

// LearningEnd returns the event time the detection phase starts at.
func (s *Scenario) LearningEnd() time.Time { return s.Options.Start.Add(s.Options.Learning) }

// End returns the event time the capture ends at; every packet is before it.
func (s *Scenario) End() time.Time { return s.LearningEnd().Add(s.Options.Detection) }

// Device returns the device called name.
func (s *Scenario) Device(name string) (Device, bool) {
	for _, d := range s.Devices {
		if d.Name == name {
			return d, true
		}
	}
	return Device{}, false
}

// snaplen is the snapshot length written in the pcap header; no frame of
// the scenario is longer.
const snaplen = 65535

// WritePCAP writes the capture to w as a classic pcap file with Ethernet
// link type and microsecond timestamps.
func (s *Scenario) WritePCAP(w io.Writer) error {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(snaplen, layers.LinkTypeEthernet); err != nil {
		return fmt.Errorf("write pcap header: %w", err)
	}
	for i, p := range s.Packets {
		ci := gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Data), Length: len(p.Data)}
		if err := pw.WritePacket(ci, p.Data); err != nil {
			return fmt.Errorf("write packet %d: %w", i, err)
		}
	}
	return nil
}

// WritePCAPFile writes the capture to a pcap file at path, replacing it.
func (s *Scenario) WritePCAPFile(path string) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create pcap: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close pcap: %w", cerr)
		}
	}()
	bw := bufio.NewWriter(f)
	if err := s.WritePCAP(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write pcap: %w", err)
	}
	return nil
}
