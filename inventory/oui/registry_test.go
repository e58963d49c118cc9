package oui

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/internal/testshared"
	"github.com/vigil-health/vigil/inventory/oui/internal/build"
)

func TestEmbeddedRegistry(t *testing.T) {
	r := Default()
	if r.Len() <= 30000 {
		t.Errorf("Len() = %d, want > 30000", r.Len())
	}
	if !strings.Contains(r.Source(), "ieee-data ") {
		t.Errorf("Source() = %q, want the ieee-data version", r.Source())
	}
	aliased := 0
	for _, orgs := range [][]uint32{r.l36.org, r.l28.org, r.l24.org} {
		for _, o := range orgs {
			if r.orgs[o].alias != 0 {
				aliased++
			}
		}
	}
	t.Logf("%d blocks, %d organisations, %d bytes in memory, %d blocks (%.0f%%) with an alias; %s",
		r.Len(), len(r.orgs), r.Size(), aliased, 100*float64(aliased)/float64(r.Len()), r.Source())
	if Default() != r {
		t.Error("Default() built a second registry")
	}
}

// macIn returns a MAC address inside a block given as the IEEE writes it
// ("0013DD", "70B3D553F") or as Wireshark's manuf does
// ("1C:C0:E1:20:00:00/28"), with every other digit 9.
func macIn(t *testing.T, assignment string) (mac string, prefix string) {
	t.Helper()
	hexs, mask, masked := strings.Cut(assignment, "/")
	hexs = strings.ToUpper(strings.ReplaceAll(hexs, ":", ""))
	if masked {
		switch mask {
		case "28":
			hexs = hexs[:7]
		case "36":
			hexs = hexs[:9]
		default:
			t.Fatalf("mask of %q", assignment)
		}
	}
	full := hexs + strings.Repeat("9", 12-len(hexs))
	var b strings.Builder
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(full[i : i+2])
	}
	return b.String(), hexs
}

// notMedical are the corpus rows whose note (or, for the last two, this
// package's review) says the vendor is no medical-device maker.
func notMedical(org, note string) bool {
	for _, s := range []string{"NAME COLLISION", "not a device", "not necessarily a medical device", "conglomerate OUI"} {
		if strings.Contains(note, s) {
			return true
		}
	}
	return strings.Contains(org, "Bytedance") || org == "Beckmann GmbH"
}

// TestMedicalVendorOUIs looks up every row of the shared medical vendor
// list: the organisation as registered, and the medical flag the row's
// note implies.
func TestMedicalVendorOUIs(t *testing.T) {
	path := filepath.Join(testshared.Dir(t), "integrations", "fingerprints", "medical-vendor-ouis.tsv")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := Default()
	sc := bufio.NewScanner(f)
	rows := 0
	for n := 1; sc.Scan(); n++ {
		if n == 1 {
			continue // source, registry, assignment, organization, note
		}
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 5 {
			t.Fatalf("%s line %d: %d columns", path, n, len(cols))
		}
		registry, assignment, org, note := cols[1], cols[2], cols[3], cols[4]
		rows++
		t.Run(fmt.Sprintf("%s_%s", assignment, org), func(t *testing.T) {
			mac, prefix := macIn(t, assignment)
			e, ok := r.Lookup(mac)
			if !ok {
				t.Fatalf("Lookup(%s) = false, want %q", mac, org)
			}
			wantBits := map[string]int{"MA-L": 24, "MA-M": 28, "MA-S": 36}[registry]
			if e.Organization != build.Clean(org) || e.Prefix != prefix || e.Bits != wantBits {
				t.Errorf("Lookup(%s) = %s/%d %q, want %s/%d %q", mac, e.Prefix, e.Bits, e.Organization, prefix, wantBits, org)
			}
			if want := !notMedical(org, note); e.Medical != want {
				t.Errorf("Lookup(%s) = %q (vendor %q) medical %v, want %v (note %q)", mac, e.Organization, e.Vendor, e.Medical, want, note)
			}
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if rows < 100 {
		t.Errorf("%d rows in %s, want the whole list", rows, path)
	}
}

func TestLookupVendors(t *testing.T) {
	r := Default()
	for _, tc := range []struct {
		mac  string
		want Entry
	}{
		{"00:D0:75:01:02:03", Entry{"00D075", 24, "ALARIS MEDICAL SYSTEMS, INC.", "BD (Alaris)", true}},
		{"F8:C6:78:01:02:03", Entry{"F8C678", 24, "Carefusion", "BD (CareFusion)", true}},
		{"00:12:21:01:02:03", Entry{"001221", 24, "B.Braun Melsungen AG", "B. Braun", true}},
		{"F0:E5:C3:01:02:03", Entry{"F0E5C3", 24, "Drägerwerk AG & Co. KG aA", "Draeger", true}},
		{"A0:F2:17:01:02:03", Entry{"A0F217", 24, "GE Medical System(China) Co., Ltd.", "GE HealthCare", true}},
		{"00:40:97:01:02:03", Entry{"004097", 24, "DATEX DIVISION OF", "GE HealthCare (Datex-Ohmeda)", true}},
		{"00:14:B8:01:02:03", Entry{"0014B8", 24, "Hill-Rom", "Baxter (Hillrom)", true}},
		{"00:1A:01:01:02:03", Entry{"001A01", 24, "Smiths Medical", "ICU Medical (Smiths Medical)", true}},
		{"00:09:FB:01:02:03", Entry{"0009FB", 24, "Philips Patient Monitoring", "Philips Healthcare", true}},
		{"1C:5A:6B:01:02:03", Entry{"1C5A6B", 24, "Philips Electronics Nederland BV", "Philips", false}},
		{"00:18:65:01:02:03", Entry{"001865", 24, "Siemens Healthcare Diagnostics Manufacturing Ltd", "Siemens Healthineers", true}},
		{"00:00:0C:01:02:03", Entry{"00000C", 24, "Cisco Systems, Inc", "Cisco", false}},
		{"E4:05:F8:01:02:03", Entry{"E405F8", 24, "Bytedance", "ByteDance", false}},
		{"00:1B:7E:01:02:03", Entry{"001B7E", 24, "Beckmann GmbH", "Beckmann", false}},
		// No alias: the vendor is the organisation without its legal form.
		{"00:22:72:01:02:03", Entry{"002272", 24, "American Micro-Fuel Device Corp.", "American Micro-Fuel Device", false}},
		// From Wireshark's manuf: assigned after the ieee-data snapshot.
		{"00:D6:CB:01:02:03", Entry{"00D6CB", 24, "Quectel Wireless Solutions Co.,Ltd.", "Quectel Wireless Solutions", false}},
		{"00:1E:10:01:02:03", Entry{"001E10", 24, "HUAWEI TECHNOLOGIES CO.,LTD", "Huawei", false}},
	} {
		got, ok := r.Lookup(tc.mac)
		if !ok {
			t.Errorf("Lookup(%s) = false", tc.mac)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Lookup(%s) (-want +got):\n%s", tc.mac, diff)
		}
	}
}

// synthetic is a registry where a vendor's MA-L holds an MA-M and an MA-S
// of other owners, which the IEEE never does but the lookup must not care.
const synthetic = `# synthetic
001221	24	Outer Corp	i
0012210	28	Middle GmbH	i
001221009	36	Inner Ltd	i
0012210AB	36	Private	i
70B3D5	24	IEEE Registration Authority	i
70B3D553F	36	Abbott Diagnostics Technologies AS	i
`

func mustParse(t testing.TB, data, aliasText string) *Registry {
	t.Helper()
	al, err := parseAliases(aliasText)
	if err != nil {
		t.Fatal(err)
	}
	r, err := parse(strings.NewReader(data), al)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const minimalAliases = "kind\tpattern\tvendor\tmedical\tnote\n"

func TestLookupLongestPrefix(t *testing.T) {
	r := mustParse(t, synthetic, minimalAliases)
	for _, tc := range []struct {
		mac    string
		prefix string // "" for false
		org    string
	}{
		{"00:12:21:00:9F:FF", "001221009", "Inner Ltd"},
		{"00:12:21:00:A0:00", "0012210", "Middle GmbH"},
		{"00:12:21:0F:FF:FF", "0012210", "Middle GmbH"},
		{"00:12:21:10:00:00", "001221", "Outer Corp"},
		{"00:12:21:FF:FF:FF", "001221", "Outer Corp"},
		{"00:12:21:0A:B0:00", "", ""}, // a Private MA-S hides its block
		{"00:12:22:00:00:00", "", ""},
		{"00:12:20:FF:FF:FF", "", ""},
		{"70:B3:D5:53:F1:23", "70B3D553F", "Abbott Diagnostics Technologies AS"},
		{"70:B3:D5:53:E1:23", "", ""}, // the IEEE RA's own block
	} {
		e, ok := r.Lookup(tc.mac)
		if ok != (tc.prefix != "") || e.Prefix != tc.prefix || e.Organization != tc.org {
			t.Errorf("Lookup(%s) = %q %q %v, want %q %q", tc.mac, e.Prefix, e.Organization, ok, tc.prefix, tc.org)
		}
	}

	// The same in the real data: MA-S and IAB blocks inside the IEEE RA's
	// MA-L blocks, an MA-M inside another.
	d := Default()
	for mac, want := range map[string]string{
		"70:B3:D5:53:F0:01": "70B3D553F",
		"8C:1F:64:30:0F:FF": "8C1F64300",
		"00:50:C2:00:00:01": "0050C2000",
		"14:4F:D7:E0:00:01": "144FD7E",
	} {
		if e, ok := d.Lookup(mac); !ok || e.Prefix != want {
			t.Errorf("Default().Lookup(%s) = %q %v, want %q", mac, e.Prefix, ok, want)
		}
	}
}

func TestLookupFormats(t *testing.T) {
	r := Default()
	want, ok := r.Lookup("00:12:21:ab:cd:ef")
	if !ok {
		t.Fatal("no entry for 00:12:21")
	}
	for _, mac := range []string{"00:12:21:AB:CD:EF", "00-12-21-ab-cd-ef", "0012.21ab.cdef", "001221ABCDEF", "001221abcdef"} {
		got, ok := r.Lookup(mac)
		if !ok || got != want {
			t.Errorf("Lookup(%q) = %+v %v, want %+v", mac, got, ok, want)
		}
	}
	hw, _ := net.ParseMAC("00:12:21:ab:cd:ef")
	if got, ok := r.LookupHW(hw); !ok || got != want {
		t.Errorf("LookupHW(%v) = %+v %v, want %+v", hw, got, ok, want)
	}
	if v, ok := r.Vendor("00:12:21:ab:cd:ef"); !ok || v != want.Vendor {
		t.Errorf("Vendor() = %q %v, want %q", v, ok, want.Vendor)
	}
	for _, mac := range []string{
		"", "00:12:21", "00:12:21:ab:cd", "00:12:21:ab:cd:ef:01", "00:12:21:ab:cd:eg",
		"00:12-21:ab:cd:ef", "00.12.21.ab.cd.ef", "0012:21ab:cdef", "0012.21ab.cdefx", "0012-21ab-cdef",
		" 00:12:21:ab:cd:ef", "00:12:21:ab:cd:ef ", "0:12:21:ab:cd:ef", "00:12:21:ab:cd:e", "001221abcde",
		"00:12:21:ab:cd:\xef", "00122１abcdef",
	} {
		if e, ok := r.Lookup(mac); ok {
			t.Errorf("Lookup(%q) = %+v, want false", mac, e)
		}
	}
	if _, ok := r.LookupHW(net.HardwareAddr{0, 0x12, 0x21, 0xab, 0xcd, 0xef, 0, 0}); ok {
		t.Error("LookupHW(EUI-64) = true, want false")
	}
}

func TestLookupNoVendor(t *testing.T) {
	r := Default()
	for _, tc := range []struct{ name, mac string }{
		{"locally administered", "02:12:21:ab:cd:ef"},
		{"locally administered, randomised", "DA:A1:19:00:00:01"},
		{"locally administered of a registered block", "0E:00:0C:00:00:01"},
		{"IPv4 multicast", "01:00:5E:00:00:FB"},
		{"IPv6 multicast", "33:33:00:00:00:01"},
		{"broadcast", "FF:FF:FF:FF:FF:FF"},
		{"group bit on a registered block", "01:00:0C:CC:CC:CC"},
		{"Private MA-L", "00:00:6C:00:00:01"},
		{"IEEE Registration Authority MA-L, unassigned MA-S", "8C:1F:64:00:10:00"},
		{"unassigned", "C8:C8:C8:00:00:01"},
	} {
		if e, ok := r.Lookup(tc.mac); ok {
			t.Errorf("%s: Lookup(%s) = %+v, want false", tc.name, tc.mac, e)
		}
	}
	// The registrations behind two of those exist: the false is the rule,
	// not missing data.
	if e, ok := r.Lookup("00:00:0C:00:00:01"); !ok || e.Vendor != "Cisco" {
		t.Errorf("Lookup(00:00:0C:00:00:01) = %+v %v, want Cisco", e, ok)
	}
}

func TestLookupAllocs(t *testing.T) {
	r := Default()
	macs := benchMACs()
	allocs := testing.AllocsPerRun(100, func() {
		for _, m := range macs {
			r.Lookup(m)
		}
	})
	if allocs != 0 {
		t.Errorf("Lookup allocates %.1f times per %d calls, want 0", allocs, len(macs))
	}
}

func TestDefaultConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, ok := Default().Lookup("00:12:21:00:00:01"); !ok {
				t.Error("Lookup(00:12:21:00:00:01) = false")
			}
		})
	}
	wg.Wait()
}

func TestParseErrors(t *testing.T) {
	al, err := parseAliases(minimalAliases)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"three fields":   "001221\t24\tB.Braun\n",
		"five fields":    "001221\t24\tB.Braun\ti\tx\n",
		"bits mismatch":  "001221\t28\tB.Braun\ti\n",
		"bad bits":       "00122100\t32\tB.Braun\ti\n",
		"lower case hex": "00122a\t24\tB.Braun\ti\n",
		"empty name":     "001221\t24\t\ti\n",
		"out of order":   "001222\t24\tA\ti\n001221\t24\tB\ti\n",
		"duplicate":      "001221\t24\tA\ti\n001221\t24\tB\ti\n",
	} {
		if _, err := parse(strings.NewReader(data), al); err == nil {
			t.Errorf("%s: parse succeeded", name)
		}
	}
}

// benchMACs mixes MA-S, MA-M and MA-L hits with misses.
func benchMACs() []string {
	return []string{
		"70:B3:D5:53:F0:01", "14:4F:D7:E0:00:01", "00:12:21:AB:CD:EF", "00:00:0C:07:AC:01",
		"c8:c8:c8:00:00:01", "3c:22:fb:12:34:56", "0050.c200.0001", "F0-E5-C3-00-00-01",
	}
}

func BenchmarkLookup(b *testing.B) {
	r := Default()
	macs := benchMACs()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Lookup(macs[i%len(macs)])
		i++
	}
}

func BenchmarkDefaultLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := load(registryGz, aliasesTSV); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzLookup(f *testing.F) {
	for _, m := range append(benchMACs(), "", "00:12-21:ab:cd:ef", "0012.21ab.cdef", "ff:ff:ff:ff:ff:ff") {
		f.Add(m)
	}
	r := Default()
	f.Fuzz(func(t *testing.T, mac string) {
		e, ok := r.Lookup(mac)
		_, parsed := parseMAC(mac)
		if ok && !parsed {
			t.Fatalf("Lookup(%q) = true on an address parseMAC rejects", mac)
		}
		// parseMAC agrees with net.ParseMAC on the separated forms.
		if len(mac) != 12 {
			hw, err := net.ParseMAC(mac)
			if std := err == nil && len(hw) == 6; std != parsed {
				t.Fatalf("parseMAC(%q) = %v, net.ParseMAC: %v %v", mac, parsed, hw, err)
			}
			if parsed {
				if got, ok2 := r.LookupHW(hw); ok2 != ok || got != e {
					t.Fatalf("LookupHW(%v) = %+v %v, Lookup(%q) = %+v %v", hw, got, ok2, mac, e, ok)
				}
			}
		}
		if ok && (e.Organization == "" || e.Vendor == "" || len(e.Prefix)*4 != e.Bits) {
			t.Fatalf("Lookup(%q) = %+v", mac, e)
		}
	})
}
