package capture

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/bpf"
)

// ErrNoFilterCompiler is returned when a filter expression is configured
// but tcpdump, which compiles it, is not installed.
var ErrNoFilterCompiler = errors.New("compiling a capture filter expression needs tcpdump (apt-get install tcpdump); or give filter_program, the output of tcpdump -ddd")

// CompileFilter compiles a tcpdump-syntax capture filter ("not port 22")
// to classic BPF for Ethernet frames by asking tcpdump (libpcap's compiler,
// the reference) for its program, once, at start. The capture itself stays
// pure Go; only the compilation uses libpcap, in another process. See
// docs/decisions.md for why no pure-Go compiler is used.
//
// The filter sees frames as the kernel delivers them: with VLAN
// offloading, without their 802.1Q tag.
func CompileFilter(ctx context.Context, expr string) ([]bpf.RawInstruction, error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, nil
	}
	path, err := exec.LookPath("tcpdump")
	if err != nil {
		return nil, fmt.Errorf("capture filter %q: %w", expr, ErrNoFilterCompiler)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, path, "-y", "EN10MB", "-ddd", expr)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("capture filter %q: %s", expr, strings.TrimSpace(firstLine(stderr.String(), err.Error())))
	}
	prog, err := ParseFilterProgram(string(out))
	if err != nil {
		return nil, fmt.Errorf("capture filter %q: %w", expr, err)
	}
	return prog, nil
}

func firstLine(s, fallback string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Warning") {
			return l
		}
	}
	return fallback
}

// ParseFilterProgram reads a BPF program in tcpdump's -ddd format (a
// count line, then "code jt jf k" per instruction, decimal) and checks it
// is a valid classic BPF program (jumps in bounds, ends in a return).
func ParseFilterProgram(text string) ([]bpf.RawInstruction, error) {
	lines := strings.FieldsFunc(strings.TrimSpace(text), func(r rune) bool { return r == '\n' || r == ',' })
	if len(lines) < 2 {
		return nil, errors.New("filter program: empty")
	}
	n, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || n != len(lines)-1 || n > 4096 {
		return nil, fmt.Errorf("filter program: first line must count the %d instructions that follow", len(lines)-1)
	}
	prog := make([]bpf.RawInstruction, 0, n)
	for i, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 4 {
			return nil, fmt.Errorf("filter program: instruction %d: want \"code jt jf k\", got %q", i+1, l)
		}
		var v [4]uint64
		for j, bits := range []int{16, 8, 8, 32} {
			if v[j], err = strconv.ParseUint(f[j], 10, bits); err != nil {
				return nil, fmt.Errorf("filter program: instruction %d: %v", i+1, err)
			}
		}
		prog = append(prog, bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])})
	}
	insns, ok := bpf.Disassemble(prog)
	if !ok {
		return nil, errors.New("filter program: contains instructions that are not classic BPF")
	}
	if _, err := bpf.NewVM(insns); err != nil {
		return nil, fmt.Errorf("filter program: %w", err)
	}
	return prog, nil
}
