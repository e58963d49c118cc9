// Package importer reads any scanner result file Vigil knows, choosing
// the parser from the document's root element: .nessus
// (NessusClientData_v2), Greenbone/OpenVAS report XML (report,
// get_reports_response) and Nexpose XML exports (NexposeReport).
package importer

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/vigil-health/vigil/scanner"
	"github.com/vigil-health/vigil/scanner/greenbone"
	"github.com/vigil-health/vigil/scanner/nessus"
	"github.com/vigil-health/vigil/scanner/nexpose"
)

// Formats names what Import reads, for messages.
const Formats = ".nessus (NessusClientData_v2), Greenbone/OpenVAS report XML, Nexpose XML export"

// File imports one file.
func File(path string) (*scanner.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, path)
}

// Read imports a document read from r; name is used in errors.
func Read(r io.Reader, name string) (*scanner.Report, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(64 << 10)
	root, err := rootElement(head)
	if err != nil {
		return nil, &scanner.FormatError{File: name, Format: "scanner report", Offset: -1, Err: err}
	}
	switch root {
	case "NessusClientData_v2":
		return nessus.Parse(br, name)
	case "report", "get_reports_response":
		return greenbone.Parse(br, name)
	case "NexposeReport":
		return nexpose.Parse(br, name)
	}
	return nil, &scanner.FormatError{File: name, Format: "scanner report", Offset: -1,
		Err: fmt.Errorf("root element <%s> is none of %s", root, Formats)}
}

// rootElement finds the name of the first element in the head of a
// document.
func rootElement(head []byte) (string, error) {
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")))
	switch {
	case len(trimmed) == 0:
		return "", errors.New("empty file")
	case trimmed[0] == '{' || trimmed[0] == '[':
		return "", fmt.Errorf("JSON, not XML: the importer reads %s (InsightVM API responses are read by the InsightVM sync)", Formats)
	case trimmed[0] != '<':
		return "", fmt.Errorf("not XML: the importer reads %s", Formats)
	}
	dec := xml.NewDecoder(bytes.NewReader(head))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", fmt.Errorf("no XML element found in the first %d bytes: %v", len(head), err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name.Local, nil
		}
	}
}
