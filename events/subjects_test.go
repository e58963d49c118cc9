package events

import (
	"fmt"
	"strings"
	"testing"
)

// deviceKeyFmt is DeviceKey as it was first written, with fmt: the
// reference the hand-built one must match byte for byte (keys are stored
// and partition the work).
func deviceKeyFmt(mac, ip string, vlan uint16) string {
	if mac != "" {
		return fmt.Sprintf("mac:%s/%d", strings.ToLower(mac), vlan)
	}
	return fmt.Sprintf("ip:%s/%d", ip, vlan)
}

func TestDeviceKey(t *testing.T) {
	for _, tc := range []struct {
		mac, ip string
		vlan    uint16
		want    string
	}{
		{"00:12:21:4E:0A:12", "10.20.0.102", 20, "mac:00:12:21:4e:0a:12/20"},
		{"", "10.20.0.102", 0, "ip:10.20.0.102/0"},
		{"", "fe80::1", 65535, "ip:fe80::1/65535"},
		{"AB:CD:EF:00:11:22", "", 4094, "mac:ab:cd:ef:00:11:22/4094"},
	} {
		if got := DeviceKey(tc.mac, tc.ip, tc.vlan); got != tc.want {
			t.Errorf("DeviceKey(%q, %q, %d) = %q, want %q", tc.mac, tc.ip, tc.vlan, got, tc.want)
		}
	}
}

func FuzzDeviceKey(f *testing.F) {
	f.Add("00:12:21:4E:0A:12", "10.20.0.102", uint16(20))
	f.Add("", "2001:db8::1", uint16(0))
	f.Add("ÄB:CD", "", uint16(7)) // not ASCII: strings.ToLower's rules
	f.Add("\xff\xfeAB", "x", uint16(1))
	f.Fuzz(func(t *testing.T, mac, ip string, vlan uint16) {
		if got, want := DeviceKey(mac, ip, vlan), deviceKeyFmt(mac, ip, vlan); got != want {
			t.Errorf("DeviceKey(%q, %q, %d) = %q, want %q", mac, ip, vlan, got, want)
		}
	})
}

func BenchmarkDeviceKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = DeviceKey("00:12:21:4E:0A:12", "10.20.0.102", 20)
	}
}

// BenchmarkDeviceKeyFmt is the fmt version, for comparison.
func BenchmarkDeviceKeyFmt(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = deviceKeyFmt("00:12:21:4E:0A:12", "10.20.0.102", 20)
	}
}
