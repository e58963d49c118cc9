package netclass

import (
	"net/netip"
	"testing"
)

func TestClassification(t *testing.T) {
	cases := []struct {
		ip              string
		local, internet bool
	}{
		{"10.1.2.3", true, false},
		{"192.168.0.1", true, false},
		{"172.31.255.1", true, false},
		{"100.64.1.1", true, false},
		{"fe80::1", true, false},
		{"fd00::1", true, false},
		{"203.0.113.7", false, true},
		{"8.8.8.8", false, true},
		{"2001:db8::1", false, true},
		{"224.0.0.251", false, false},
		{"255.255.255.255", false, false},
		{"0.0.0.0", false, false},
		{"::ffff:10.0.0.1", true, false},
		{"garbage", false, false},
	}
	n := MustNetworks()
	for _, tc := range cases {
		if got := n.IsLocalString(tc.ip); got != tc.local {
			t.Errorf("IsLocal(%s) = %v, want %v", tc.ip, got, tc.local)
		}
		a, _ := netip.ParseAddr(tc.ip)
		if got := n.IsInternet(a); got != tc.internet {
			t.Errorf("IsInternet(%s) = %v, want %v", tc.ip, got, tc.internet)
		}
	}
	for mac, want := range map[string]bool{"ff:ff:ff:ff:ff:ff": true, "01:00:5e:00:00:fb": true, "33:33:00:00:00:01": true, "00:1b:21:00:00:01": false, "": false} {
		if got := IsGroupMAC(mac); got != want {
			t.Errorf("IsGroupMAC(%q) = %v, want %v", mac, got, want)
		}
	}
	if !IsLocallyAdministered("da:a1:19:00:00:01") || IsLocallyAdministered("00:1b:21:00:00:01") {
		t.Error("IsLocallyAdministered misclassifies")
	}
}

func TestConfiguredNetworks(t *testing.T) {
	n, err := NewNetworks([]string{"141.142.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	if !n.IsLocalString("141.142.228.5") || n.IsLocalString("10.0.0.1") || !n.IsLocalString("127.0.0.1") {
		t.Error("configured networks misclassify")
	}
	if _, err := NewNetworks([]string{"10.0.0.0/33"}); err == nil {
		t.Error("bad prefix accepted")
	}
	if errs := (Configuration{Local: []string{"x", "10.0.0.0/8", "y"}}).Validate(); len(errs) != 2 {
		t.Errorf("Validate = %v, want 2 errors", errs)
	}
}
