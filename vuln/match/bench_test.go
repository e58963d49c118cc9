package match_test

import (
	"testing"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/vuln/alias"
	"github.com/vigil-health/vigil/vuln/match"
)

// BenchmarkMatch matches one device against the shared feeds (12 ICSMA
// advisories, 38 NVD CVEs, the full KEV catalog): a pump whose product and
// version the alias table identifies, a DICOM device (DCMTK), a GE
// modality by model (passthrough), and a workstation that matches nothing.
// The devices of one model and version share the advisory look-ups (a
// cache emptied when the store changes); "pump-cold" is the first device
// of its model.
func BenchmarkMatch(b *testing.B) {
	store, aliases := loaded(b), alias.Shipped()
	m := match.New(store, aliases)
	b.Run("pump-cold", func(b *testing.B) {
		dev := device("pump", true, "vendor", "BD (Alaris)", "dhcp.vendor_class", "Alaris-PC-8015", "firmware_version", "12.1.3")
		for b.Loop() {
			match.New(store, aliases).Match(dev, nil)
		}
	})
	for _, c := range []struct {
		name string
		dev  events.DeviceSnapshot
	}{
		{"pump", device("pump", true, "vendor", "BD (Alaris)", "dhcp.vendor_class", "Alaris-PC-8015", "firmware_version", "12.1.3")},
		{"dcmtk", device("pacs", true, "vendor", "Dell", "dicom.implementation_version", "OFFIS_DCMTK_366")},
		{"passthrough", device("ct", true, "vendor", "GE MEDICAL SYSTEMS", "model", "Revolution EVO", "software_version", "1.4.2")},
		{"nothing", device("ws", false, "vendor", "Dell", "hostname", "WS-1", "os", "Microsoft Windows")},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				m.Match(c.dev, nil)
			}
		})
	}
}
