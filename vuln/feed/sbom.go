package feed

import (
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-health/vigil/vuln"
	"github.com/vigil-health/vigil/vuln/cpe"
)

type cdxOrg struct {
	Name string `json:"name"`
}

type cdxComponent struct {
	Type         string         `json:"type"`
	BOMRef       string         `json:"bom-ref"`
	Group        string         `json:"group"`
	Name         string         `json:"name"`
	Version      string         `json:"version"`
	Publisher    string         `json:"publisher"`
	Author       string         `json:"author"`
	Supplier     *cdxOrg        `json:"supplier"`
	Manufacturer *cdxOrg        `json:"manufacturer"`
	PURL         string         `json:"purl"`
	CPE          string         `json:"cpe"`
	Components   []cdxComponent `json:"components"`
}

type cdxBOM struct {
	BOMFormat    string `json:"bomFormat"`
	SpecVersion  string `json:"specVersion"`
	SerialNumber string `json:"serialNumber"`
	Version      *int   `json:"version"`
	Metadata     *struct {
		Timestamp    string        `json:"timestamp"`
		Component    *cdxComponent `json:"component"`
		Manufacture  *cdxOrg       `json:"manufacture"`
		Manufacturer *cdxOrg       `json:"manufacturer"`
		Supplier     *cdxOrg       `json:"supplier"`
	} `json:"metadata"`
	Components      []cdxComponent `json:"components"`
	Vulnerabilities []struct {
		ID       string `json:"id"`
		Analysis *struct {
			State         string   `json:"state"`
			Justification string   `json:"justification"`
			Response      []string `json:"response"`
			Detail        string   `json:"detail"`
			LastUpdated   string   `json:"lastUpdated"`
		} `json:"analysis"`
		Affects []struct {
			Ref      string `json:"ref"`
			Versions []struct {
				Version string `json:"version"`
				Range   string `json:"range"`
				Status  string `json:"status"`
			} `json:"versions"`
		} `json:"affects"`
		Updated   string `json:"updated"`
		Published string `json:"published"`
	} `json:"vulnerabilities"`
}

var (
	urnUUID           = regexp.MustCompile(`^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	cdxSpecVersions   = []string{"1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6"}
	cdxComponentTypes = []string{"application", "framework", "library", "container", "platform", "operating-system",
		"device", "device-driver", "firmware", "file", "machine-learning-model", "data", "cryptographic-asset"}
	cdxStates = map[string]vuln.Status{
		"resolved": vuln.Fixed, "resolved_with_pedigree": vuln.Fixed, "exploitable": vuln.Affected,
		"in_triage": vuln.UnderInvestigation, "false_positive": vuln.NotAffected, "not_affected": vuln.NotAffected,
	}
	cdxJustifications = []string{"code_not_present", "code_not_reachable", "requires_configuration", "requires_dependency",
		"requires_environment", "protected_by_compiler", "protected_at_runtime", "protected_at_perimeter", "protected_by_mitigating_control"}
	cdxResponses = []string{"can_not_fix", "will_not_fix", "update", "rollback", "workaround_available"}
)

// ParseCycloneDX reads a CycloneDX JSON document (1.0 to 1.6): its
// components become the SBOM of a device model, its vulnerabilities with
// their analysis VEX statements (resolved: fixed, exploitable: affected,
// in_triage: under investigation, not_affected and false_positive: not
// affected; no analysis: affected).
//
// The model is Options.Model, else metadata.component (vendor from its
// manufacturer, supplier, publisher or group). A document with
// vulnerabilities is VEX: its components only say what the statements
// are about, and the model's SBOM is left alone, unless
// Options.SBOMWithVEX says the document is both. The VEX document is
// identified by serialNumber (and version), else by the file name:
// importing it again replaces its statements.
func ParseCycloneDX(name string, data []byte, opt Options) (*vuln.Batch, []Problem, error) {
	c := &checker{}
	var in cdxBOM
	if p := decodeJSON(data, &in); p != nil {
		c.add(*p)
		return nil, nil, c.err(name, FormatCycloneDX)
	}
	if in.BOMFormat != "CycloneDX" {
		c.errorf("$.bomFormat", "is %q, want \"CycloneDX\"", in.BOMFormat)
	}
	if !slices.Contains(cdxSpecVersions, in.SpecVersion) {
		c.errorf("$.specVersion", "is %q, want one of %s", in.SpecVersion, strings.Join(cdxSpecVersions, ", "))
	}
	if in.SerialNumber != "" && !urnUUID.MatchString(in.SerialNumber) {
		c.errorf("$.serialNumber", "%q is not a urn:uuid", in.SerialNumber)
	}
	format := "CycloneDX " + in.SpecVersion
	refs := map[string]*vuln.Component{}
	var model vuln.ModelRef
	modelRef := ""
	created := ""
	if md := in.Metadata; md != nil {
		created = md.Timestamp
		if mc := md.Component; mc != nil {
			model = vuln.ModelRef{Name: mc.Name, Version: mc.Version, Vendor: firstOf(orgName(mc.Manufacturer), orgName(mc.Supplier),
				orgName(md.Manufacturer), orgName(md.Manufacture), orgName(md.Supplier), mc.Publisher, mc.Group)}
			modelRef = mc.BOMRef
			c.required("$.metadata.component.name", mc.Name)
		}
	}
	if opt.Model != nil {
		model = *opt.Model
	}
	sb := vuln.SBOM{Format: format, Serial: in.SerialNumber, Source: name}
	if created != "" {
		sb.Created = c.timeField("$.metadata.timestamp", created)
	}
	var walk func(path string, cs []cdxComponent)
	walk = func(path string, cs []cdxComponent) {
		for i, x := range cs {
			p := idx(path, i)
			comp := cdxComponentOf(c, p, x)
			if x.BOMRef != "" {
				if _, dup := refs[x.BOMRef]; dup || x.BOMRef == modelRef {
					c.errorf(p+".bom-ref", "%q is used twice", x.BOMRef)
				}
			}
			sb.Components = append(sb.Components, comp)
			if x.BOMRef != "" {
				refs[x.BOMRef] = &sb.Components[len(sb.Components)-1]
			}
			walk(p+".components", x.Components)
		}
	}
	walk("$.components", in.Components)
	// Pointers into sb.Components were taken while it grew: take them again.
	for i := range sb.Components {
		if r := sb.Components[i].Ref; r != "" {
			refs[r] = &sb.Components[i]
		}
	}
	if model.Name == "" && (len(in.Components) > 0 || len(in.Vulnerabilities) > 0) {
		c.errorf("$.metadata.component", "missing: the document names no device model (give one in the import options)")
	}
	sb.Model = model

	var vex *vuln.VEXDocument
	if len(in.Vulnerabilities) > 0 {
		id := in.SerialNumber
		if id != "" && in.Version != nil {
			id += "/" + strconv.Itoa(*in.Version)
		}
		if id == "" {
			id = "file:" + filepath.Base(name)
			c.warnf("$.serialNumber", "missing: the VEX document is known by its file name %q", filepath.Base(name))
		}
		vex = &vuln.VEXDocument{ID: "cyclonedx:" + id, Format: format, Source: name}
	}
	for i, v := range in.Vulnerabilities {
		vp := idx("$.vulnerabilities", i)
		c.required(vp+".id", v.ID)
		st := vuln.VEXStatement{Vulnerability: v.ID, Status: vuln.Affected, Model: model, Document: vex.ID}
		if a := v.Analysis; a != nil {
			s, ok := cdxStates[a.State]
			switch {
			case a.State == "":
			case !ok:
				c.errorf(vp+".analysis.state", "is %q, want one of resolved, resolved_with_pedigree, exploitable, in_triage, false_positive, not_affected", a.State)
			default:
				st.Status = s
			}
			if a.Justification != "" && !slices.Contains(cdxJustifications, a.Justification) {
				c.errorf(vp+".analysis.justification", "is %q, want one of %s", a.Justification, strings.Join(cdxJustifications, ", "))
			}
			for j, r := range a.Response {
				if !slices.Contains(cdxResponses, r) {
					c.errorf(idx(vp+".analysis.response", j), "is %q, want one of %s", r, strings.Join(cdxResponses, ", "))
				}
			}
			st.Justification, st.Response, st.Impact = a.Justification, a.Response, a.Detail
			if st.Status == vuln.Affected {
				st.Impact, st.Action = "", a.Detail
			}
			if a.LastUpdated != "" {
				st.Timestamp = c.timeField(vp+".analysis.lastUpdated", a.LastUpdated)
			}
		}
		if st.Timestamp.IsZero() && v.Updated != "" {
			st.Timestamp = c.timeField(vp+".updated", v.Updated)
		}
		if len(v.Affects) == 0 {
			c.errorf(vp+".affects", "missing: a VEX statement says what it is about")
		}
		for j, af := range v.Affects {
			ap := idx(vp+".affects", j)
			s := st
			for _, ver := range af.Versions {
				s.Versions = append(s.Versions, firstOf(ver.Version, ver.Range)+" "+ver.Status)
			}
			switch {
			case !c.required(ap+".ref", af.Ref):
				continue
			case af.Ref == modelRef:
			case refs[af.Ref] != nil:
				comp := *refs[af.Ref]
				s.Component = &comp
			case strings.HasPrefix(af.Ref, "urn:cdx:"):
				s.Component = &vuln.Component{Ref: af.Ref}
				c.warnf(ap+".ref", "%q refers to another BOM: kept, but only that BOM says what it is", af.Ref)
			default:
				c.errorf(ap+".ref", "%q is no bom-ref of this document", af.Ref)
				continue
			}
			vex.Statements = append(vex.Statements, s)
		}
	}
	if err := c.err(name, FormatCycloneDX); err != nil {
		return nil, c.warns, err
	}
	b := &vuln.Batch{}
	if len(in.Vulnerabilities) == 0 || opt.SBOMWithVEX {
		if model.Name == "" {
			return nil, c.warns, &Error{File: name, Format: FormatCycloneDX,
				Problems: []Problem{{Path: "$.metadata.component", Msg: "missing: the document names no device model (give one in the import options)"}}}
		}
		b.SBOMs = []vuln.SBOM{sb}
	}
	if vex != nil {
		b.VEX = []vuln.VEXDocument{*vex}
	}
	return b, c.warns, nil
}

func cdxComponentOf(c *checker, p string, x cdxComponent) vuln.Component {
	if x.Type == "" {
		c.errorf(p+".type", "missing")
	} else if !slices.Contains(cdxComponentTypes, x.Type) {
		c.warnf(p+".type", "%q is not a CycloneDX component type", x.Type)
	}
	comp := vuln.Component{Ref: x.BOMRef, Type: x.Type, Name: x.Name, Version: x.Version, PURL: x.PURL, CPE: x.CPE,
		Supplier: firstOf(orgName(x.Supplier), orgName(x.Manufacturer), x.Publisher, x.Author)}
	if x.Group != "" && comp.Supplier == "" {
		comp.Supplier = x.Group
	}
	c.required(p+".name", x.Name)
	checkIDs(c, p+".purl", p+".cpe", &comp)
	return comp
}

// checkIDs checks a component's package URL and CPE, taking name and
// version from the package URL when the component has none.
func checkIDs(c *checker, purlPath, cpePath string, comp *vuln.Component) {
	if comp.PURL != "" {
		pu, err := parsePURL(comp.PURL)
		if err != nil {
			c.errorf(purlPath, "%v", err)
		} else {
			if comp.Name == "" {
				comp.Name = pu.Name
			}
			if comp.Version == "" {
				comp.Version = pu.Version
			}
		}
	}
	if comp.CPE != "" {
		if _, err := cpe.Parse(comp.CPE); err != nil {
			c.warnf(cpePath, "%v: kept as text", err)
		}
	}
}

func orgName(o *cdxOrg) string {
	if o == nil {
		return ""
	}
	return o.Name
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return strings.TrimSpace(s)
		}
	}
	return ""
}

type spdxDoc struct {
	SPDXVersion       string `json:"spdxVersion"`
	SPDXID            string `json:"SPDXID"`
	Name              string `json:"name"`
	DocumentNamespace string `json:"documentNamespace"`
	CreationInfo      *struct {
		Created  string   `json:"created"`
		Creators []string `json:"creators"`
	} `json:"creationInfo"`
	DocumentDescribes []string `json:"documentDescribes"`
	Packages          []struct {
		SPDXID           string `json:"SPDXID"`
		Name             string `json:"name"`
		VersionInfo      string `json:"versionInfo"`
		Supplier         string `json:"supplier"`
		Originator       string `json:"originator"`
		DownloadLocation string `json:"downloadLocation"`
		Purpose          string `json:"primaryPackagePurpose"`
		ExternalRefs     []struct {
			Category string `json:"referenceCategory"`
			Type     string `json:"referenceType"`
			Locator  string `json:"referenceLocator"`
		} `json:"externalRefs"`
	} `json:"packages"`
	Relationships []struct {
		Element string `json:"spdxElementId"`
		Type    string `json:"relationshipType"`
		Related string `json:"relatedSpdxElement"`
	} `json:"relationships"`
}

// ParseSPDX reads an SPDX 2.2 or 2.3 JSON document: the package it
// describes is the device model (unless Options.Model names one), the
// other packages are its components, with their purl and CPE external
// references.
func ParseSPDX(name string, data []byte, opt Options) (*vuln.Batch, []Problem, error) {
	c := &checker{}
	var in spdxDoc
	if p := decodeJSON(data, &in); p != nil {
		c.add(*p)
		return nil, nil, c.err(name, FormatSPDX)
	}
	if in.SPDXVersion != "SPDX-2.2" && in.SPDXVersion != "SPDX-2.3" {
		c.errorf("$.spdxVersion", "is %q, want SPDX-2.2 or SPDX-2.3", in.SPDXVersion)
	}
	if in.SPDXID != "SPDXRef-DOCUMENT" {
		c.errorf("$.SPDXID", "is %q, want SPDXRef-DOCUMENT", in.SPDXID)
	}
	c.required("$.name", in.Name)
	c.required("$.documentNamespace", in.DocumentNamespace)
	sb := vuln.SBOM{Format: in.SPDXVersion, Serial: in.DocumentNamespace, Source: name}
	if ci := in.CreationInfo; ci == nil {
		c.errorf("$.creationInfo", "missing")
	} else {
		sb.Created = c.timeField("$.creationInfo.created", ci.Created)
		if len(ci.Creators) == 0 {
			c.errorf("$.creationInfo.creators", "missing")
		}
	}
	ids := map[string]int{}
	comps := make([]vuln.Component, len(in.Packages))
	for i, p := range in.Packages {
		pp := idx("$.packages", i)
		if c.required(pp+".SPDXID", p.SPDXID) {
			if _, dup := ids[p.SPDXID]; dup {
				c.errorf(pp+".SPDXID", "%q is used twice", p.SPDXID)
			}
			ids[p.SPDXID] = i
		}
		c.required(pp+".name", p.Name)
		if p.DownloadLocation == "" {
			c.warnf(pp+".downloadLocation", "missing (SPDX requires it; NOASSERTION says unknown)")
		}
		comp := vuln.Component{Ref: p.SPDXID, Name: p.Name, Version: p.VersionInfo, Supplier: spdxActor(p.Supplier), Type: strings.ToLower(p.Purpose)}
		for j, r := range p.ExternalRefs {
			rp := idx(pp+".externalRefs", j)
			switch r.Type {
			case "purl":
				if comp.PURL == "" {
					comp.PURL = r.Locator
				}
			case "cpe23Type", "cpe22Type":
				if comp.CPE == "" {
					comp.CPE = r.Locator
				}
			}
			c.required(rp+".referenceLocator", r.Locator)
		}
		checkIDs(c, pp+".externalRefs", pp+".externalRefs", &comp)
		comps[i] = comp
	}
	roots := slices.Clone(in.DocumentDescribes)
	for i, r := range in.Relationships {
		rp := idx("$.relationships", i)
		c.required(rp+".relationshipType", r.Type)
		for _, e := range []struct{ path, id string }{{rp + ".spdxElementId", r.Element}, {rp + ".relatedSpdxElement", r.Related}} {
			_, known := ids[e.id]
			if !known && e.id != "SPDXRef-DOCUMENT" && e.id != "NONE" && e.id != "NOASSERTION" && !strings.HasPrefix(e.id, "DocumentRef-") {
				c.errorf(e.path, "%q is no SPDXID of this document", e.id)
			}
		}
		switch {
		case r.Type == "DESCRIBES" && r.Element == "SPDXRef-DOCUMENT":
			roots = append(roots, r.Related)
		case r.Type == "DESCRIBED_BY" && r.Related == "SPDXRef-DOCUMENT":
			roots = append(roots, r.Element)
		}
	}
	slices.Sort(roots)
	roots = slices.Compact(roots)
	var model vuln.ModelRef
	switch {
	case opt.Model != nil:
		model = *opt.Model
	case len(roots) == 1:
		if i, ok := ids[roots[0]]; ok {
			p := in.Packages[i]
			model = vuln.ModelRef{Vendor: spdxActor(firstOf(p.Supplier, p.Originator)), Name: p.Name, Version: p.VersionInfo}
		} else {
			c.errorf("$.relationships", "the document describes %q, which is no package of it", roots[0])
		}
	case len(roots) == 0:
		c.errorf("$.documentDescribes", "the document describes no package: the device model is unknown (give one in the import options)")
	default:
		c.errorf("$.documentDescribes", "the document describes %d packages (%s): say which device model it is in the import options",
			len(roots), strings.Join(roots, ", "))
	}
	for i, comp := range comps {
		if opt.Model == nil && slices.Contains(roots, in.Packages[i].SPDXID) {
			continue // the model itself
		}
		sb.Components = append(sb.Components, comp)
	}
	if err := c.err(name, FormatSPDX); err != nil {
		return nil, c.warns, err
	}
	sb.Model = model
	return &vuln.Batch{SBOMs: []vuln.SBOM{sb}}, c.warns, nil
}

// spdxActor reads "Organization: OFFIS (email)" as "OFFIS".
func spdxActor(s string) string {
	if s == "NOASSERTION" {
		return ""
	}
	for _, p := range []string{"Organization:", "Person:", "Tool:"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			s = rest
			break
		}
	}
	if i := strings.IndexByte(s, '('); i > 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
