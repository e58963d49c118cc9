package feed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel causes, for callers that branch on them.
var (
	// ErrUnknownFormat: the input is none of the formats Vigil reads.
	ErrUnknownFormat = errors.New("unrecognised format")
	// ErrNotData: the input is a schema or another document about a
	// format, not data in it.
	ErrNotData = errors.New("not a data file")
	// ErrTooLarge: the input (decompressed) exceeds Options.MaxBytes.
	ErrTooLarge = errors.New("input too large")
)

// Problem is one thing wrong (or doubtful) in an input: where, and what.
type Problem struct {
	// Path is a JSON path ("$.vulnerabilities[3].cve.id") or, in CSV,
	// the column name; empty when the problem is the whole input.
	Path string `json:"path,omitempty"`
	// Line and Column (1-based) locate the problem in the text when
	// known.
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	Msg    string `json:"msg"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		b.WriteString("line " + strconv.Itoa(p.Line))
		if p.Column > 0 {
			b.WriteString(" column " + strconv.Itoa(p.Column))
		}
	}
	if p.Path != "" {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.Path)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error rejects an input: every problem found, so that a file can be
// fixed in one go. Nothing of a rejected input is imported.
type Error struct {
	File     string    `json:"file"`
	Format   Format    `json:"format,omitempty"`
	Problems []Problem `json:"problems"`
	// More counts problems found beyond those listed.
	More int `json:"more,omitempty"`
	// Err is the cause callers may branch on (ErrUnknownFormat, ...).
	Err error `json:"-"`
}

// maxListed problems are shown in the error message; maxProblems kept.
const (
	maxListed   = 8
	maxProblems = 100
)

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Format != "" {
		b.WriteString(" (" + string(e.Format) + ")")
	}
	b.WriteString(": ")
	n := len(e.Problems) + e.More
	if n > 1 {
		fmt.Fprintf(&b, "%d problems: ", n)
	}
	for i, p := range e.Problems {
		if i == maxListed {
			fmt.Fprintf(&b, "; and %d more", n-maxListed)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	if len(e.Problems) == 0 && e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// checker collects the problems of one input.
type checker struct {
	errs, warns []Problem
	more        int
}

func (c *checker) errorf(path, format string, args ...any) {
	if len(c.errs) >= maxProblems {
		c.more++
		return
	}
	c.errs = append(c.errs, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) warnf(path, format string, args ...any) {
	if len(c.warns) >= maxProblems {
		return
	}
	c.warns = append(c.warns, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) add(p Problem) {
	if len(c.errs) >= maxProblems {
		c.more++
		return
	}
	c.errs = append(c.errs, p)
}

func (c *checker) failed() bool { return len(c.errs) > 0 }

// required reports an empty required string.
func (c *checker) required(path, value string) bool {
	if strings.TrimSpace(value) == "" {
		c.errorf(path, "missing")
		return false
	}
	return true
}

func (c *checker) err(file string, f Format) error {
	if !c.failed() {
		return nil
	}
	return &Error{File: file, Format: f, Problems: c.errs, More: c.more}
}

// decodeJSON decodes data into v and reports a syntax or type error with
// its line, column and field.
func decodeJSON(data []byte, v any) *Problem {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := position(data, se.Offset-1)
		return &Problem{Line: line, Column: col, Msg: "invalid JSON: " + se.Error()}
	case errors.As(err, &te):
		line, col := position(data, te.Offset-1)
		path := "$"
		if te.Field != "" {
			path += "." + te.Field
		}
		return &Problem{Path: path, Line: line, Column: col,
			Msg: fmt.Sprintf("JSON %s where %s was expected", te.Value, jsonType(te.Type.Kind().String()))}
	}
	return &Problem{Msg: "invalid JSON: " + err.Error()}
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "bool":
		return "true or false"
	case "float64", "float32", "int", "int64", "int32", "uint", "uint64":
		return "a number"
	}
	return kind
}

// position converts a byte offset to a 1-based line and column.
func position(data []byte, off int64) (int, int) {
	if off < 0 {
		off = 0
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// idx formats a JSON path element.
func idx(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }
