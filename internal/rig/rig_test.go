package rig

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/vigil-health/vigil/capture/dpi"
)

// knownAttributes is the vocabulary the truth may use: Vigil's own
// attribute names, so that a rename there shows up here.
var knownAttributes = []string{
	dpi.AttrHostname, dpi.AttrVendor, dpi.AttrModel, dpi.AttrSerial, dpi.AttrSoftwareVersion,
	dpi.AttrCleartextCredential, dpi.AttrInsecureProtocol,
	dpi.AttrDICOMAETitle, dpi.AttrDICOMImplClassUID, dpi.AttrDICOMImplVersion, dpi.AttrDICOMModality,
	dpi.AttrDICOMRole, dpi.AttrDICOMStationName, dpi.AttrDICOMInstitutionName,
	dpi.AttrHL7SendingApplication, dpi.AttrHL7SendingFacility, dpi.AttrHL7ReceivingApplication,
	dpi.AttrHL7ReceivingFacility, dpi.AttrHL7MessageType, dpi.AttrHL7Version,
	dpi.AttrDHCPVendorClass,
	dpi.AttrLLDPChassisID, dpi.AttrLLDPSystemName, dpi.AttrLLDPSystemDescr, dpi.AttrLLDPPortID,
	dpi.AttrLLDPMgmtAddress,
	dpi.AttrSNMPSysDescr, dpi.AttrSNMPSysObjectID, dpi.AttrSNMPSysName, dpi.AttrSNMPSysLocation,
	dpi.AttrSNMPSysContact,
	dpi.AttrMDNSService, dpi.AttrDNSQuery,
	dpi.AttrHTTPUserAgent, dpi.AttrHTTPServer, dpi.AttrTLSSNI, dpi.AttrTLSVersion, dpi.AttrTLSCertSubject,
	dpi.AttrSSHBanner, dpi.AttrTelnetBanner,
}

// frame is what the test needs of one captured frame.
type frame struct {
	src, dst net.HardwareAddr
	ipSrc    netip.Addr
	ipDst    netip.Addr
}

func readFrames(t *testing.T, path string) []frame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s is not a pcap file: %v", path, err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("link type %v, want Ethernet", r.LinkType())
	}
	var out []frame
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("frame %d: %v", len(out)+1, err)
		}
		if ci.CaptureLength != ci.Length {
			t.Errorf("frame %d truncated: %d of %d bytes", len(out)+1, ci.CaptureLength, ci.Length)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.NoCopy)
		eth, ok := p.LinkLayer().(*layers.Ethernet)
		if !ok {
			t.Fatalf("frame %d: no Ethernet header", len(out)+1)
		}
		fr := frame{src: eth.SrcMAC, dst: eth.DstMAC}
		if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
			fr.ipSrc, _ = netip.AddrFromSlice(ip.SrcIP.To4())
			fr.ipDst, _ = netip.AddrFromSlice(ip.DstIP.To4())
		}
		out = append(out, fr)
	}
	return out
}

// TestCapture checks that the recording is a valid capture holding frames
// from every device of the truth, and from nothing else.
func TestCapture(t *testing.T) {
	rec := Record(t)
	frames := readFrames(t, rec.Pcap)
	if len(frames) != rec.Truth.Frames {
		t.Errorf("capture has %d frames, truth says %d", len(frames), rec.Truth.Frames)
	}
	bySrc := map[string]int{}
	for _, f := range frames {
		bySrc[f.src.String()]++
	}
	for _, d := range rec.Truth.Devices {
		if bySrc[d.MAC] == 0 {
			t.Errorf("%s: no frame from %s", d.Name, d.MAC)
		}
		if bySrc[d.MAC] != d.Frames {
			t.Errorf("%s: %d frames from %s, truth says %d", d.Name, bySrc[d.MAC], d.MAC, d.Frames)
		}
		delete(bySrc, d.MAC)
	}
	for mac, n := range bySrc {
		t.Errorf("%d frames from %s, which is no device of the truth", n, mac)
	}

	// Every device sent from the addresses it had, and the internet host
	// was reached through the router's MAC.
	lan := netip.MustParsePrefix(rec.Truth.Networks.LAN)
	for _, d := range rec.Truth.Devices {
		for _, ip := range d.IPs {
			addr := netip.MustParseAddr(ip)
			if !slices.ContainsFunc(frames, func(f frame) bool { return f.src.String() == d.MAC && f.ipSrc == addr }) &&
				d.Name != "router" && d.Name != "switch" { // they send no IP of their own: ARP, LLDP
				t.Errorf("%s: no IPv4 frame from %s with source %s", d.Name, d.MAC, ip)
			}
			if !lan.Contains(addr) {
				t.Errorf("%s: %s is outside %s", d.Name, ip, lan)
			}
		}
	}
	for _, h := range rec.Truth.InternetHosts {
		router, ok := rec.Truth.Device(h.Via)
		if !ok {
			t.Fatalf("internet host %s: via %q is no device", h.Name, h.Via)
		}
		addr := netip.MustParseAddr(h.IP)
		for _, name := range h.ContactedBy {
			d, ok := rec.Truth.Device(name)
			if !ok {
				t.Fatalf("internet host %s: contacted by %q, no device", h.Name, name)
			}
			if !slices.ContainsFunc(frames, func(f frame) bool {
				return f.src.String() == d.MAC && f.dst.String() == router.MAC && f.ipDst == addr
			}) {
				t.Errorf("no frame from %s to %s through %s", name, h.IP, h.Via)
			}
			if !slices.ContainsFunc(frames, func(f frame) bool {
				return f.src.String() == router.MAC && f.dst.String() == d.MAC && f.ipSrc == addr
			}) {
				t.Errorf("no answer from %s to %s through %s", h.IP, name, h.Via)
			}
		}
	}

	// The forbidden strings that travel in clear are in the capture, so a
	// leak test on it is not vacuous.
	raw, err := os.ReadFile(rec.Pcap)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rec.Truth.ForbiddenStrings {
		if f.OnWire != bytes.Contains(raw, []byte(f.Value)) {
			t.Errorf("forbidden %s %q: on_wire %v, but in the capture: %v", f.Kind, f.Value, f.OnWire, !f.OnWire)
		}
	}
}

// TestTruth checks that truth.json is consistent in itself.
func TestTruth(t *testing.T) {
	truth := Record(t).Truth
	if len(truth.Devices) == 0 {
		t.Fatal("no devices")
	}
	lan := netip.MustParsePrefix(truth.Networks.LAN)
	internet := netip.MustParsePrefix(truth.Networks.Internet)
	for _, p := range []netip.Prefix{lan, internet} {
		if !isDocumentation(p) {
			t.Errorf("%s is not a documentation range", p)
		}
	}

	names, macs := map[string]bool{}, map[string]bool{}
	var moved bool
	for _, d := range truth.Devices {
		if names[d.Name] || macs[d.MAC] {
			t.Errorf("%s: duplicate name or MAC %s", d.Name, d.MAC)
		}
		names[d.Name], macs[d.MAC] = true, true
		mac, err := net.ParseMAC(d.MAC)
		if err != nil || mac.String() != d.MAC || mac[0]&0x03 != 0 {
			t.Errorf("%s: MAC %q is not a lower-case, universally administered unicast address", d.Name, d.MAC)
		}
		if d.OUIVendor == "" {
			t.Errorf("%s: no OUI vendor", d.Name)
		}
		if !slices.Contains([]string{"medical", "it", "network"}, d.Class) {
			t.Errorf("%s: class %q", d.Name, d.Class)
		}
		if d.VLAN != 0 {
			t.Errorf("%s: VLAN %d, the rig has none", d.Name, d.VLAN)
		}
		if len(d.IPs) == 0 {
			t.Errorf("%s: no address", d.Name)
		}
		switch d.Addressing {
		case "static":
			if len(d.IPs) != 1 {
				t.Errorf("%s: static, but %d addresses", d.Name, len(d.IPs))
			}
		case "dhcp":
			moved = moved || len(d.IPs) > 1
		default:
			t.Errorf("%s: addressing %q", d.Name, d.Addressing)
		}
		for _, ip := range d.IPs {
			if a, err := netip.ParseAddr(ip); err != nil || !lan.Contains(a) {
				t.Errorf("%s: address %q outside %s", d.Name, ip, lan)
			}
		}
		for attr, values := range d.Attributes {
			if !slices.Contains(knownAttributes, attr) {
				t.Errorf("%s: attribute %q is not in Vigil's vocabulary (capture/dpi/attributes.go)", d.Name, attr)
			}
			if len(values) == 0 || slices.Contains(values, "") {
				t.Errorf("%s: attribute %s has an empty value", d.Name, attr)
			}
			for _, v := range values {
				for _, f := range truth.ForbiddenStrings {
					if strings.Contains(v, f.Value) {
						t.Errorf("%s: attribute %s = %q holds forbidden %s data", d.Name, attr, v, f.Kind)
					}
				}
			}
		}
	}
	if !moved {
		t.Error("no DHCP client changed address")
	}

	for _, h := range truth.InternetHosts {
		if a, err := netip.ParseAddr(h.IP); err != nil || !internet.Contains(a) {
			t.Errorf("internet host %s: %q outside %s", h.Name, h.IP, internet)
		}
	}

	kinds := map[string]int{}
	for _, f := range truth.ForbiddenStrings {
		if f.Value == "" {
			t.Error("empty forbidden string")
		}
		kinds[f.Kind]++
	}
	if kinds["patient"] == 0 || kinds["password"] == 0 {
		t.Errorf("forbidden strings by kind %v: want patient data and passwords", kinds)
	}

	results := map[string]bool{}
	for _, a := range truth.Auth {
		c, okc := truth.Device(a.Client)
		s, oks := truth.Device(a.Server)
		if !okc || !oks || c.MAC != a.ClientMAC || s.MAC != a.ServerMAC {
			t.Errorf("auth %s %s -> %s: client or server unknown or MAC mismatch", a.Protocol, a.Client, a.Server)
		}
		if !slices.Contains(c.IPs, a.ClientIP) || !slices.Contains(s.IPs, a.ServerIP) {
			t.Errorf("auth %s %s -> %s: addresses %s -> %s are not theirs", a.Protocol, a.Client, a.Server, a.ClientIP, a.ServerIP)
		}
		if a.Result != "success" && a.Result != "failure" {
			t.Errorf("auth %s: result %q", a.Protocol, a.Result)
		}
		for _, f := range truth.ForbiddenStrings {
			if strings.Contains(a.Principal, f.Value) || strings.Contains(a.Reason, f.Value) {
				t.Errorf("auth %s: holds forbidden %s data", a.Protocol, f.Kind)
			}
		}
		results[a.Protocol+" "+a.Result] = true
	}
	for _, want := range []string{"dicom success", "dicom failure", "ssh failure", "telnet failure", "http failure", "snmp success"} {
		if !results[want] {
			t.Errorf("no %s outcome in the truth", want)
		}
	}
}

// isDocumentation reports whether p lies in an IPv4 documentation range
// (RFC 5737).
func isDocumentation(p netip.Prefix) bool {
	for _, r := range []string{"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"} {
		doc := netip.MustParsePrefix(r)
		if doc.Contains(p.Addr()) && p.Bits() >= doc.Bits() {
			return true
		}
	}
	return false
}

// TestScriptsHash checks that the cache key follows the scripts and
// ignores the README.
func TestScriptsHash(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(dir+"/"+name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("record.sh", "echo one\n")
	h1, err := scriptsHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !isKey(h1) {
		t.Fatalf("hash %q is no cache key", h1)
	}
	write("README.md", "docs\n")
	if h, _ := scriptsHash(dir); h != h1 {
		t.Error("the README changed the hash")
	}
	write("record.sh", "echo two\n")
	h2, _ := scriptsHash(dir)
	if h2 == h1 {
		t.Error("a script change kept the hash")
	}
	// The detection script is part of the detection recording's key
	// only.
	write(detectScript, "echo detect\n")
	if h, _ := scriptsHash(dir, detectScript); h != h2 {
		t.Error("the detection script changed the identity recording's key")
	}
	if h, _ := scriptsHash(dir); h == h2 {
		t.Error("the detection script did not change the detection recording's key")
	}
}
