package capture

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/internal/testshared"
)

// zeekConn is the part of a conn.log line the oracle compares.
type zeekConn struct {
	key                    string // orig_h orig_p resp_h resp_p proto
	origPkts, respPkts     uint64
	origIPBytes, respBytes uint64
	state, history         string
}

func readConnLog(t *testing.T, path string) []zeekConn {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fields []string
	var out []zeekConn
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#fields") {
			fields = strings.Split(line, "\t")[1:]
			if !slices.Contains(fields, "id.orig_h") || !slices.Contains(fields, "orig_ip_bytes") {
				return nil // a zeek-cut extract without the fields compared here
			}
			continue
		}
		if strings.HasPrefix(line, "#") || line == "" || fields == nil {
			continue
		}
		cols := strings.Split(line, "\t")
		get := func(name string) string {
			for i, f := range fields {
				if f == name && i < len(cols) {
					return cols[i]
				}
			}
			return "-"
		}
		num := func(name string) uint64 {
			n, _ := strconv.ParseUint(get(name), 10, 64)
			return n
		}
		out = append(out, zeekConn{
			key:      strings.Join([]string{get("id.orig_h"), get("id.orig_p"), get("id.resp_h"), get("id.resp_p"), get("proto")}, " "),
			origPkts: num("orig_pkts"), respPkts: num("resp_pkts"),
			origIPBytes: num("orig_ip_bytes"), respBytes: num("resp_ip_bytes"),
			state: get("conn_state"), history: get("history"),
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func zeekOf(f events.Flow) zeekConn {
	state, history := f.State, f.History
	if f.Transport == "udp" || f.Transport == "icmp" || f.Transport == "icmp6" {
		// Zeek's conn_state for non-TCP; the event leaves it empty.
		switch {
		case f.OrigPackets > 0 && f.RespPackets > 0:
			state = "SF"
		case f.OrigPackets > 0:
			state = "S0"
		case f.RespPackets > 0:
			state = "SHR"
		default:
			state = "OTH"
		}
	}
	if history == "" {
		history = "-"
	}
	proto := f.Transport
	if proto == "icmp6" {
		proto = "icmp"
	}
	return zeekConn{
		key:      fmt.Sprintf("%s %d %s %d %s", f.Orig.IP, f.Orig.Port, f.Resp.IP, f.Resp.Port, proto),
		origPkts: f.OrigPackets, respPkts: f.RespPackets, origIPBytes: f.OrigBytes, respBytes: f.RespBytes,
		state: state, history: history,
	}
}

type oracleCase struct {
	capture, baseline string
}

// oracleCases lists the ORACLES.tsv rows that have a conn.log and whose
// Zeek command read the whole capture (no -f packet filter), one baseline
// per capture.
func oracleCases(t *testing.T, dir string) []oracleCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "ORACLES.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var out []oracleCase
	for i, line := range strings.Split(string(b), "\n") {
		cols := strings.Split(line, "\t")
		// Skip runs that filtered packets (-f) or installed NetControl
		// packet filters: their conn.log is not the whole capture's.
		if i == 0 || len(cols) < 5 || !strings.Contains(cols[2], "conn.log") || strings.Contains(cols[4], " -f ") ||
			strings.Contains(cols[1], "netcontrol") {
			continue
		}
		if seen[cols[0]] {
			continue
		}
		conn := filepath.Join(dir, cols[1], "conn.log")
		if _, err := os.Stat(conn); err != nil || len(readConnLog(t, conn)) == 0 {
			continue
		}
		seen[cols[0]] = true
		out = append(out, oracleCase{capture: cols[0], baseline: conn})
	}
	return out
}

// TestZeekOracle compares the flow table with Zeek's conn.log on every
// capture of ORACLES.tsv that has one. Connections are matched by
// originator/responder address, port and protocol (in order, for repeated
// tuples); a missing or extra connection counts as a mismatch of every
// field.
//
// Measured on this corpus (13 captures, 455 connections): 100% on every
// field. Tuple, packets and IP bytes must stay at 100%: they follow from
// decoding alone. State and history may drop to 99%, since Zeek also
// reacts to things not modelled here (bad checksums in captures read
// without -C, content gaps, deferred close while data is pending).
func TestZeekOracle(t *testing.T) {
	dir := testshared.Pcaps(t)
	cases := oracleCases(t, dir)
	if len(cases) < 5 {
		t.Fatalf("only %d oracle cases found in ORACLES.tsv", len(cases))
	}
	var total, pktsOK, bytesOK, stateOK, historyOK, tupleOK int
	for _, c := range cases {
		want := readConnLog(t, c.baseline)
		cfg := defaultTableConfig()
		// Zeek does not flip a flow whose first packet is a SYN-ACK (its
		// stealth-scan caution); Vigil does by default, so the comparison
		// turns that off.
		cfg.FlipSynAck = false
		flows, err := flowsOf(t, cfg, filepath.Join(dir, c.capture))
		if err != nil {
			t.Logf("%s: %v", c.capture, err)
		}
		got := map[string][]zeekConn{}
		for _, f := range flows {
			if f.Phase != events.FlowEnd {
				continue
			}
			z := zeekOf(f)
			got[z.key] = append(got[z.key], z)
		}
		for _, w := range want {
			total++
			list := got[w.key]
			if len(list) == 0 {
				t.Logf("%s: missing %s (%s %s)", c.capture, w.key, w.state, w.history)
				continue
			}
			g := list[0]
			got[w.key] = list[1:]
			tupleOK++
			if g.origPkts == w.origPkts && g.respPkts == w.respPkts {
				pktsOK++
			} else {
				t.Logf("%s: %s pkts got %d/%d want %d/%d", c.capture, w.key, g.origPkts, g.respPkts, w.origPkts, w.respPkts)
			}
			if g.origIPBytes == w.origIPBytes && g.respBytes == w.respBytes {
				bytesOK++
			} else {
				t.Logf("%s: %s ip bytes got %d/%d want %d/%d", c.capture, w.key, g.origIPBytes, g.respBytes, w.origIPBytes, w.respBytes)
			}
			if g.state == w.state {
				stateOK++
			} else {
				t.Logf("%s: %s state got %s want %s", c.capture, w.key, g.state, w.state)
			}
			if g.history == w.history {
				historyOK++
			} else {
				t.Logf("%s: %s history got %s want %s", c.capture, w.key, g.history, w.history)
			}
		}
		var extra []string
		for k, l := range got {
			for range l {
				extra = append(extra, k)
			}
		}
		sort.Strings(extra)
		for _, k := range extra {
			total++
			t.Logf("%s: extra %s", c.capture, k)
		}
	}
	pct := func(n int) float64 { return 100 * float64(n) / float64(total) }
	t.Logf("oracle: %d captures, %d connections: tuple %.1f%%, pkts %.1f%%, ip bytes %.1f%%, state %.1f%%, history %.1f%%",
		len(cases), total, pct(tupleOK), pct(pktsOK), pct(bytesOK), pct(stateOK), pct(historyOK))
	for _, check := range []struct {
		name string
		n    int
		min  float64
	}{{"tuple", tupleOK, 100}, {"pkts", pktsOK, 100}, {"ip bytes", bytesOK, 100}, {"state", stateOK, 99}, {"history", historyOK, 99}} {
		if pct(check.n) < check.min {
			t.Errorf("%s match %.1f%% below %.0f%%", check.name, pct(check.n), check.min)
		}
	}
}
