package scanner

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMerge(t *testing.T) {
	devices := []Device{
		{ID: "dev-pump", MAC: "00:12:21:4e:0a:12", IPs: []string{"10.20.0.140"}, Hostname: "INF-PUMP-02"},
		{ID: "dev-ws", MAC: "00:14:22:b7:3e:5a", IPs: []string{"10.20.0.150"}, Hostname: "WS-NURSE-01"},
		{ID: "dev-srv", IPs: []string{"10.30.0.5"}, Hostname: "pacs"}, // routed: no MAC
		{ID: "dev-srv2", IPs: []string{"10.30.0.6"}, Hostname: "pacs"},
	}
	findings := []Finding{
		{Host: "10.20.0.102", MAC: "00-12-21-4E-0A-12", Check: "a"},          // by MAC although the address moved
		{Host: "10.9.9.9", Hostname: "ws-nurse-01.ward.example", Check: "b"}, // by short host name
		{Host: "10.30.0.5", Check: "c"},                                      // by address
		{Host: "10.30.0.6", Hostname: "PACS", Check: "d"},                    // ambiguous name, the address decides
		{Host: "10.20.0.150", MAC: "aa:bb:cc:dd:ee:ff", Check: "e"},          // the address is someone else's now
		{Host: "192.0.2.1", Check: "f"},
		{Host: "192.0.2.1", Check: "g"},
	}
	got, unmatched := Merge(findings, devices)
	var by []string
	for _, f := range got {
		by = append(by, f.Check+"="+f.DeviceID+"/"+f.MatchedBy)
	}
	want := []string{"a=dev-pump/mac", "b=dev-ws/hostname", "c=dev-srv/ip", "d=dev-srv2/hostname", "e=/", "f=/", "g=/"}
	if diff := cmp.Diff(want, by); diff != "" {
		t.Errorf("matches (-want +got):\n%s", diff)
	}
	if len(unmatched) != 2 || unmatched[0].Address != "10.20.0.150" || unmatched[1].Findings != 2 {
		t.Errorf("unmatched = %+v", unmatched)
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{"AB:12:CD:34:EF:56": "ab:12:cd:34:ef:56", "ab12.cd34.ef56": "ab:12:cd:34:ef:56",
		"001122334455": "00:11:22:33:44:55", "00:11:22": "", "zz:11:22:33:44:55": ""} {
		if got := NormalizeMAC(in); got != want {
			t.Errorf("NormalizeMAC(%q) = %q, want %q", in, got, want)
		}
	}
	if got := NormalizeCVEs([]string{" cve-2020-0001", "CVE-2020-0001", "NOCVE", "CVE-20-1", "CVE-2019-12345"}); !cmp.Equal(got, []string{"CVE-2019-12345", "CVE-2020-0001"}) {
		t.Errorf("NormalizeCVEs = %v", got)
	}
}

// BenchmarkMerge merges 100 000 findings on 10 000 hosts with an
// inventory of 10 000 devices.
func BenchmarkMerge(b *testing.B) {
	var devices []Device
	var findings []Finding
	for i := range 10_000 {
		mac := fmt.Sprintf("00:12:21:%02x:%02x:%02x", i>>16&255, i>>8&255, i&255)
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		devices = append(devices, Device{ID: fmt.Sprint("dev-", i), MAC: mac, IPs: []string{ip}, Hostname: fmt.Sprint("host-", i)})
		for j := range 10 {
			f := Finding{Host: ip, Check: fmt.Sprint(j)}
			switch j % 3 {
			case 0:
				f.MAC = mac
			case 1:
				f.Hostname = fmt.Sprint("host-", i, ".example.org")
			}
			findings = append(findings, f)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		Merge(findings, devices)
	}
}
