package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkPages renders the pages a clinical engineer opens most, over a
// real inventory projection of 10 000 synthetic devices (shipped
// classification rules, eight departments), through the whole handler:
// access control, the query, the template, the SVG charts. One op is one
// page, as the browser gets it.
//
//	go test -run '^$' -bench Pages -benchmem -count 6 ./web/
func BenchmarkPages(b *testing.B) {
	inv := &modelInventory{m: syntheticInventory(b, 10_000)}
	c, err := New(Configuration{Listen: "127.0.0.1:0"}, Dependencies{Inventory: inv})
	if err != nil {
		b.Fatal(err)
	}
	h := c.Handler()
	id := inv.Devices()[4242].ID
	// The copy of the whole inventory the pages start from
	// (inventory.Component.Devices): most of a list page's time.
	b.Run("inventory-copy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if len(inv.Devices()) != 10_000 {
				b.Fatal("lost devices")
			}
		}
	})
	for _, p := range []struct{ name, path string }{
		{"overview", "/"},
		{"inventory", "/devices"},
		{"inventory-search", "/devices?q=pump-0&sort=-bytes"},
		{"inventory-page-100", "/devices?offset=5000&limit=50"},
		{"device", "/devices/" + id},
		{"api-devices-50", "/api/v1/devices?limit=50"},
		{"csv-10000", "/api/v1/devices?format=csv"},
	} {
		b.Run(p.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", p.path, nil)
			req.Host = "127.0.0.1"
			var size int
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", p.path, rec.Code, rec.Body.String())
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size), "bytes/page")
		})
	}
}
