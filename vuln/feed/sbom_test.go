package feed_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/vuln"
	"github.com/vigil-health/vigil/vuln/feed"
)

var (
	ct20 = vuln.ModelRef{Vendor: "ACME Medical", Name: "CT Scanner", Version: "2.0"}
	ct21 = vuln.ModelRef{Vendor: "ACME Medical", Name: "CT Scanner", Version: "2.1"}
)

func TestSPDX(t *testing.T) {
	im, s := newImporter()
	// The real SPDX 2.3 example: the described package is the model.
	if _, err := im.ImportFile(filepath.Join("testdata", "spdx-04-SBOMwSecurity.json"), feed.Options{}); err != nil {
		t.Fatal(err)
	}
	sb, ok := s.SBOM(vuln.ModelRef{Vendor: "SPDX", Name: "tools-java", Version: "1.5.1"})
	if !ok {
		t.Fatalf("no SBOM for tools-java: %+v", s.SBOMs())
	}
	want := []vuln.Component{{Ref: "SPDXRef-xlsx", Supplier: "Webjar", Name: "xlsx", Version: "0.16.6", PURL: "pkg:maven/org.webjars.npm/xlsx@0.16.6"}}
	if diff := cmp.Diff(want, sb.Components); diff != "" || sb.Format != "SPDX-2.3" {
		t.Errorf("%s components (-want +got):\n%s", sb.Format, diff)
	}

	// The imaging device: DCMTK and OpenSSL with purl and CPE.
	res, err := im.ImportFile(filepath.Join("testdata", "acme-ct-2.0.spdx.json"), feed.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Components != 2 || len(res.Warnings) != 0 {
		t.Errorf("summary %+v, warnings %v", res.Summary, res.Warnings)
	}
	sb, _ = s.SBOM(ct20)
	if sb == nil || sb.Components[0].Name != "dcmtk" || sb.Components[0].CPE != "cpe:2.3:a:offis:dcmtk:3.6.6:*:*:*:*:*:*:*" ||
		sb.Components[0].Supplier != "OFFIS e.V." || sb.Components[1].Version != "1.1.1k" {
		t.Errorf("CT Scanner 2.0 SBOM: %+v", sb)
	}
}

func TestCycloneDXModelAndVEX(t *testing.T) {
	im, s := newImporter()
	for _, f := range []string{"acme-ct-2.0.spdx.json", "acme-ct-2.1.cdx.json", "acme-ct-2.0-vex.cdx.json"} {
		if _, err := im.ImportFile(filepath.Join("testdata", f), feed.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	// Nested components are flattened.
	sb, _ := s.SBOM(ct21)
	var names []string
	for _, c := range sb.Components {
		names = append(names, c.Name+"@"+c.Version)
	}
	if got := strings.Join(names, " "); got != "dcmtk@3.6.7 Yocto Linux@4.0.15 openssl@3.0.13" {
		t.Errorf("CT Scanner 2.1 components: %s", got)
	}
	// The VEX document did not replace the 2.0 SBOM, and says DCMTK in
	// it is not affected by CVE-2022-2121.
	if sb, _ := s.SBOM(ct20); len(sb.Components) != 2 {
		t.Errorf("the VEX document replaced the SBOM: %+v", sb.Components)
	}
	st := s.VEX("CVE-2022-2121")
	if len(st) != 1 {
		t.Fatalf("VEX statements: %+v", st)
	}
	want := vuln.VEXStatement{Vulnerability: "CVE-2022-2121", Model: ct20, Status: vuln.NotAffected,
		Component:     &vuln.Component{Ref: "dcmtk", Type: "library", Supplier: "OFFIS e.V.", Name: "dcmtk", Version: "3.6.6", PURL: "pkg:generic/offis/dcmtk@3.6.6"},
		Justification: "code_not_reachable", Impact: "The scanner never runs DCMTK's storescp with a file path taken from the network.",
		Document: "cyclonedx:urn:uuid:8e2d9a3b-1c44-4f7e-a0a1-5b6c7d8e9f01/1"}
	if diff := cmp.Diff(want, st[0]); diff != "" {
		t.Errorf("statement (-want +got):\n%s", diff)
	}
	// Imported again, the document replaces its statements.
	if _, err := im.ImportFile(filepath.Join("testdata", "acme-ct-2.0-vex.cdx.json"), feed.Options{}); err != nil {
		t.Fatal(err)
	}
	if n := s.Stats().VEXStatements; n != 1 {
		t.Errorf("%d statements after re-import, want 1", n)
	}
	// Taken as SBOM and VEX, it replaces the SBOM too.
	if _, err := im.ImportFile(filepath.Join("testdata", "acme-ct-2.0-vex.cdx.json"), feed.Options{SBOMWithVEX: true}); err != nil {
		t.Fatal(err)
	}
	if sb, _ := s.SBOM(ct20); len(sb.Components) != 1 {
		t.Errorf("SBOMWithVEX: %d components, want 1", len(sb.Components))
	}
}

func TestSBOMModelOption(t *testing.T) {
	im, s := newImporter()
	m := vuln.ModelRef{Vendor: "CERN", Name: "VdM editor", Version: "0.0.1"}
	if _, err := im.ImportFile(filepath.Join(vulndata(t), "sbom/cyclonedx/cern-lhc-vdm-editor-bom.json"), feed.Options{Model: &m}); err != nil {
		t.Fatal(err)
	}
	if sb, ok := s.SBOM(vuln.ModelRef{Vendor: "cern", Name: "vdm-editor", Version: "0.0.1"}); !ok || len(sb.Components) != 43 {
		t.Errorf("the SBOM is not held under the model given (folded names): %+v", s.SBOMs())
	}
	// A CycloneDX VEX about a model given in the options.
	if _, err := im.ImportFile(filepath.Join(vulndata(t), "sbom/cyclonedx/vex-not_affected.json"), feed.Options{Model: &m}); err != nil {
		t.Fatal(err)
	}
	if st := s.VEX("CVE-2021-44228"); len(st) != 1 || st[0].Model != m || st[0].Component != nil {
		t.Errorf("VEX statement: %+v", st)
	}
}

func TestSBOMErrors(t *testing.T) {
	im, _ := newImporter()
	for _, c := range []struct {
		name, data, want string
	}{
		{"two-roots.spdx.json", `{"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "x", "documentNamespace": "https://x",
  "creationInfo": {"created": "2024-01-01T00:00:00Z", "creators": ["Tool: x"]}, "documentDescribes": ["SPDXRef-a", "SPDXRef-b"],
  "packages": [{"SPDXID": "SPDXRef-a", "name": "a", "downloadLocation": "NONE"}, {"SPDXID": "SPDXRef-b", "name": "b", "downloadLocation": "NONE"}]}`,
			"$.documentDescribes: the document describes 2 packages (SPDXRef-a, SPDXRef-b): say which device model it is in the import options"},
		{"dangling.spdx.json", `{"spdxVersion": "SPDX-2.2", "SPDXID": "SPDXRef-DOCUMENT", "name": "x", "documentNamespace": "https://x",
  "creationInfo": {"created": "2024-01-01T00:00:00Z", "creators": ["Tool: x"]},
  "packages": [{"SPDXID": "SPDXRef-a", "name": "a", "downloadLocation": "NONE", "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "npm/x"}]}],
  "relationships": [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-zz"}]}`,
			`$.packages[0].externalRefs: package URL "npm/x" does not start with pkg:; $.relationships[0].relatedSpdxElement: "SPDXRef-zz" is no SPDXID of this document`},
		{"spdx3.json", `{"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "@graph": []}`, "Vigil reads SPDX 2.2 and 2.3 JSON"},
		{"nomodel.cdx.json", `{"bomFormat": "CycloneDX", "specVersion": "1.4", "components": [{"type": "library", "name": "x"}]}`,
			"$.metadata.component: missing: the document names no device model (give one in the import options)"},
		{"badcomp.cdx.json", `{"bomFormat": "CycloneDX", "specVersion": "1.7", "metadata": {"component": {"type": "device", "name": "M"}},
  "components": [{"name": "x", "purl": "pkg:"}, {"type": "library", "bom-ref": "a", "name": "y"}, {"type": "library", "bom-ref": "a", "name": "z"}]}`,
			`$.specVersion: is "1.7", want one of 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6; $.components[0].type: missing; $.components[0].purl: package URL "pkg:" has no type/name; $.components[2].bom-ref: "a" is used twice`},
	} {
		_, err := im.Import(c.name, bytes.NewReader([]byte(c.data)), feed.Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v\nwant it to say %q", c.name, err, c.want)
		}
	}
}
