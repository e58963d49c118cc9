package feed

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-health/vigil/vuln"
)

// ParseEPSS reads a FIRST EPSS daily CSV (decompressed):
//
//	#model_version:v2023.03.01,score_date:2025-02-20T00:00:00+0000
//	cve,epss,percentile
//	CVE-1999-0001,0.00383,0.73075
//
// The comment line is required: without score_date the day of the scores
// is unknown, and a day older than the scores held must be refused.
func ParseEPSS(name string, data []byte) (*vuln.Batch, []Problem, error) {
	c := &checker{}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	set := vuln.EPSSSet{Source: name}
	line := 1
	if first, rest, _ := bytes.Cut(data, []byte("\n")); bytes.HasPrefix(first, []byte("#")) {
		meta := strings.TrimSpace(strings.TrimPrefix(string(first), "#"))
		for _, kv := range strings.Split(meta, ",") {
			k, v, _ := strings.Cut(kv, ":")
			switch strings.TrimSpace(k) {
			case "model_version":
				set.ModelVersion = strings.TrimSpace(v)
			case "score_date":
				d, err := parseEPSSDate(strings.TrimSpace(v))
				if err != nil {
					c.add(Problem{Line: 1, Path: "score_date", Msg: err.Error()})
				}
				set.Date = d
			}
		}
		if set.ModelVersion == "" {
			c.add(Problem{Line: 1, Path: "model_version", Msg: "missing from the #model_version line"})
		}
		if set.Date.IsZero() && !c.failed() {
			c.add(Problem{Line: 1, Path: "score_date", Msg: "missing from the #model_version line: the day of the scores is unknown"})
		}
		data, line = rest, 2
	} else {
		c.add(Problem{Line: 1, Msg: "no #model_version:...,score_date:... line: the day of the scores is unknown"})
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		c.add(csvProblem(err, line-1, "reading the header"))
		return nil, c.warns, c.err(name, FormatEPSS)
	}
	cols := map[string]int{}
	for i, h := range header {
		cols[strings.ToLower(strings.TrimSpace(h))] = i
	}
	ci, okC := cols["cve"]
	ei, okE := cols["epss"]
	pi, okP := cols["percentile"]
	if !okC || !okE || !okP {
		c.add(Problem{Line: line, Msg: "the header must name the columns cve, epss and percentile; it is " + strconv.Quote(strings.Join(header, ","))})
		return nil, c.warns, c.err(name, FormatEPSS)
	}
	scores := map[string]vuln.EPSS{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			c.add(csvProblem(err, line-1, "reading a row"))
			if len(c.errs) >= maxProblems {
				break
			}
			continue
		}
		l, _ := r.FieldPos(0)
		l += line - 1
		id := strings.TrimSpace(rec[ci])
		if !cveID.MatchString(id) {
			c.add(Problem{Line: l, Path: "cve", Msg: strconv.Quote(id) + " is not a CVE ID"})
			continue
		}
		score, ok1 := probability(c, l, "epss", rec[ei])
		pct, ok2 := probability(c, l, "percentile", rec[pi])
		if !ok1 || !ok2 {
			continue
		}
		if _, dup := scores[id]; dup {
			c.add(Problem{Line: l, Path: "cve", Msg: id + " appears twice"})
			continue
		}
		scores[id] = vuln.EPSS{Score: score, Percentile: pct, Date: set.Date}
	}
	if err := c.err(name, FormatEPSS); err != nil {
		return nil, c.warns, err
	}
	set.Rows = len(scores)
	return &vuln.Batch{EPSS: &vuln.EPSSBatch{Set: set, Scores: scores}}, c.warns, nil
}

func probability(c *checker, line int, col, s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || f > 1 {
		c.add(Problem{Line: line, Path: col, Msg: strconv.Quote(s) + " is not a number from 0 to 1"})
		return 0, false
	}
	return f, true
}

func csvProblem(err error, offset int, doing string) Problem {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return Problem{Line: pe.Line + offset, Column: pe.Column, Msg: "CSV: " + pe.Err.Error()}
	}
	if errors.Is(err, io.EOF) {
		return Problem{Line: offset + 1, Msg: "empty: no header"}
	}
	return Problem{Msg: doing + ": " + err.Error()}
}

func parseEPSSDate(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05-0700", time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New(strconv.Quote(s) + " is not a date (2025-02-20T00:00:00+0000)")
}
