// Package feed reads vulnerability feeds into a vuln.Store: NVD CVE API
// 2.0 (files and the paged API), CSAF 2.0 advisories (and CSAF provider
// metadata with its ROLIE feeds or directory index), the CISA KEV
// catalog, FIRST EPSS scores, and CycloneDX and SPDX SBOMs with
// CycloneDX or CSAF VEX.
//
// Air-gapped sites import files, so files are the first-class input:
// every file is read whole, validated, and applied whole or not at all.
// A rejected file leaves the store as it was and is reported with every
// problem found: the file, the JSON path or line, and what is wrong.
package feed

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/vigil-health/vigil/vuln"
)

// Format names an input format.
type Format string

// Formats read.
const (
	FormatNVD          Format = "NVD CVE API 2.0"
	FormatCSAF         Format = "CSAF 2.0"
	FormatCSAFProvider Format = "CSAF provider metadata"
	FormatKEV          Format = "CISA KEV"
	FormatEPSS         Format = "FIRST EPSS CSV"
	FormatCycloneDX    Format = "CycloneDX"
	FormatSPDX         Format = "SPDX"
)

// Options tune one import.
type Options struct {
	// Model is the device model an SBOM or VEX document is about. When
	// nil, the document names it (CycloneDX metadata.component, the
	// package an SPDX document describes, the products of a CSAF VEX
	// document).
	Model *vuln.ModelRef
	// SBOMWithVEX takes a CycloneDX document with vulnerabilities as the
	// model's SBOM too. By default such a document is VEX only: VEX
	// documents list just the components their statements are about,
	// which must not replace the model's full SBOM.
	SBOMWithVEX bool
	// MaxBytes bounds the input, decompressed; 0 means DefaultMaxBytes.
	MaxBytes int64
}

// DefaultMaxBytes bounds an input: NVD's largest yearly file is a few
// hundred megabytes; a gzip bomb stops here.
const DefaultMaxBytes = 1 << 30

// Result is a successful import.
type Result struct {
	Summary vuln.Summary
	// Warnings are doubts that did not stop the import: a version range
	// read only in part, a count that disagrees, a CSAF rule broken in a
	// way Vigil can live with.
	Warnings []Problem
}

// Importer imports files into a store.
type Importer struct {
	Store *vuln.Store
	// Now stamps imports; time.Now when nil.
	Now func() time.Time
}

func (im *Importer) now() time.Time {
	if im.Now != nil {
		return im.Now()
	}
	return time.Now()
}

// ImportFile imports one file (gzip-compressed or not), detecting its
// format. CSAF provider metadata is refused: use ImportProvider.
func (im *Importer) ImportFile(path string, opt Options) (Result, error) {
	data, err := readFile(path, opt.MaxBytes)
	if err != nil {
		return Result{}, err
	}
	return im.importData(path, data, opt)
}

// Import imports one input read from r; name names it in reports.
func (im *Importer) Import(name string, r io.Reader, opt Options) (Result, error) {
	data, err := readAll(name, r, opt.MaxBytes)
	if err != nil {
		return Result{}, err
	}
	return im.importData(name, data, opt)
}

func (im *Importer) importData(name string, data []byte, opt Options) (Result, error) {
	b, warns, err := Parse(name, data, opt)
	if err != nil {
		return Result{Warnings: warns}, err
	}
	b.Source.ImportedAt = im.now()
	sum, err := im.Store.Apply(b)
	if err != nil {
		return Result{Warnings: warns}, fmt.Errorf("%s: %w", name, err)
	}
	return Result{Summary: sum, Warnings: warns}, nil
}

// readFile reads a file whole, decompressing gzip.
func readFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	return readAll(path, f, max)
}

// readAll reads an input whole, decompressing gzip.
func readAll(name string, r io.Reader, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxBytes
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, &Error{File: name, Problems: []Problem{{Msg: "gzip: " + err.Error()}}}
		}
		data, err = io.ReadAll(io.LimitReader(zr, max+1))
		if err != nil {
			return nil, &Error{File: name, Problems: []Problem{{Msg: "gzip: " + err.Error()}}}
		}
	}
	if int64(len(data)) > max {
		return nil, &Error{File: name, Err: ErrTooLarge,
			Problems: []Problem{{Msg: fmt.Sprintf("more than %d bytes (decompressed)", max)}}}
	}
	return data, nil
}

// Parse reads and validates an input of any format into a batch, without
// touching a store. Warnings are returned in both cases.
func Parse(name string, data []byte, opt Options) (*vuln.Batch, []Problem, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
	f, err := Detect(data)
	if err != nil {
		var fe *Error
		if errors.As(err, &fe) {
			fe.File = name
			return nil, nil, fe
		}
		return nil, nil, &Error{File: name, Err: err, Problems: []Problem{{Msg: err.Error()}}}
	}
	var b *vuln.Batch
	var warns []Problem
	switch f {
	case FormatNVD:
		b, warns, err = ParseNVD(name, data)
	case FormatCSAF:
		b, warns, err = ParseCSAF(name, data, opt)
	case FormatKEV:
		b, warns, err = ParseKEV(name, data)
	case FormatEPSS:
		b, warns, err = ParseEPSS(name, data)
	case FormatCycloneDX:
		b, warns, err = ParseCycloneDX(name, data, opt)
	case FormatSPDX:
		b, warns, err = ParseSPDX(name, data, opt)
	case FormatCSAFProvider:
		return nil, nil, &Error{File: name, Format: f, Err: ErrNotData,
			Problems: []Problem{{Msg: "provider metadata lists advisories but holds none: import it with ImportProvider"}}}
	}
	if err != nil {
		return nil, warns, err
	}
	sum := sha256.Sum256(data)
	b.Source = vuln.Source{Path: name, Format: string(f), SHA256: hex.EncodeToString(sum[:])}
	return b, warns, nil
}

// Detect names the format of an input (decompressed).
func Detect(data []byte) (Format, error) {
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(trimmed) == 0 {
		return "", &Error{Err: ErrUnknownFormat, Problems: []Problem{{Msg: "empty input"}}}
	}
	if trimmed[0] != '{' {
		if bytes.HasPrefix(trimmed, []byte("#model_version")) || bytes.HasPrefix(bytes.ToLower(trimmed), []byte("cve,epss")) {
			return FormatEPSS, nil
		}
		if trimmed[0] == '[' {
			return "", &Error{Err: ErrUnknownFormat, Problems: []Problem{{Msg: "a JSON array: no format Vigil reads is one"}}}
		}
		return "", &Error{Err: ErrUnknownFormat, Problems: []Problem{{Msg: "neither JSON nor an EPSS CSV (which starts with #model_version or cve,epss)"}}}
	}
	var top map[string]json.RawMessage
	if p := decodeJSON(data, &top); p != nil {
		return "", &Error{Err: ErrUnknownFormat, Problems: []Problem{*p}}
	}
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(top[k], &s)
		return s
	}
	_, hasDoc := top["document"]
	_, hasVulns := top["vulnerabilities"]
	_, hasTotal := top["totalResults"]
	_, hasCatalog := top["catalogVersion"]
	_, hasDist := top["distributions"]
	_, hasCanonical := top["canonical_url"]
	_, hasSchema := top["$schema"]
	_, hasDefs := top["$defs"]
	_, hasDefinitions := top["definitions"]
	_, hasProps := top["properties"]
	switch {
	case hasSchema && (hasDefs || hasDefinitions || hasProps):
		title := str("title")
		if title == "" {
			title = str("$id")
		}
		return "", &Error{Err: ErrNotData, Problems: []Problem{{Msg: fmt.Sprintf("a JSON schema (%q), not data", title)}}}
	case str("format") == "NVD_CVE" || hasTotal && hasVulns:
		return FormatNVD, nil
	case hasDoc:
		return FormatCSAF, nil
	case hasCatalog:
		return FormatKEV, nil
	case str("bomFormat") != "":
		return FormatCycloneDX, nil
	case str("spdxVersion") != "":
		return FormatSPDX, nil
	case hasCanonical && (hasDist || str("metadata_version") != ""):
		return FormatCSAFProvider, nil
	}
	if _, ok := top["@context"]; ok {
		return "", &Error{Err: ErrUnknownFormat, Problems: []Problem{{Msg: "JSON-LD (SPDX 3?): Vigil reads SPDX 2.2 and 2.3 JSON"}}}
	}
	return "", &Error{Err: ErrUnknownFormat, Problems: []Problem{{
		Msg: "JSON that is neither NVD CVE API 2.0, CSAF 2.0, CISA KEV, CycloneDX, SPDX nor CSAF provider metadata"}}}
}

// parseTime reads the timestamps of the feeds: RFC 3339, or NVD's
// zone-less UTC ("2022-07-11T13:15:08.503"), or a date.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 date and time", s)
}

// timeField parses a required timestamp and reports a bad one.
func (c *checker) timeField(path, s string) time.Time {
	if !c.required(path, s) {
		return time.Time{}
	}
	t, err := parseTime(s)
	if err != nil {
		c.errorf(path, "%v", err)
	}
	return t
}
