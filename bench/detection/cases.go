package detection

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/vigil-health/vigil/internal/synth"
)

// Rules of the shipped library that detect the attacks of the cases.
const (
	RuleAuthBurst = "authentication_failure_burst"
	RuleScan      = "network_scan"
	RuleInternet  = "internet_communication"
	RuleNewPeer   = "new_peer"
	RuleLifePeer  = "life_sustaining_new_peer"
	RuleNewPort   = "new_port"
)

// PublicCases are the captures of the shared corpus (pcaps is its
// pcaps directory) that hold known attacks, with their oracles. Each runs
// with the default 24-hour learning window: the captures last minutes,
// so all of it is learning, as on a sensor's first day, and an attack
// must be raised without any baseline.
func PublicCases(pcaps string) []Case {
	zeek := func(p string) string { return filepath.Join(pcaps, "zeek_zeek/testing/btest/Traces", p) }
	return []Case{
		{
			Name: "zeek ftp/bruteforce", Source: "public",
			Captures: []string{zeek("ftp/bruteforce.pcap")},
			Anomalies: []Anomaly{{
				Name: "FTP password guessing", Device: "192.168.56.1", Peers: []string{"192.168.56.101"},
				Rules:  []string{RuleAuthBurst},
				Oracle: "Zeek notice.log (scripts.policy.protocols.ftp.bruteforce): FTP::Bruteforcing, 192.168.56.1 had 20 failed logins on 1 FTP server in 0m37s",
			}},
		},
		{
			// Zeek's btest lowers SSH::password_guesses_limit to 10 (its
			// notice reads "seen in 10 connections"); the capture holds 11
			// sessions, below Vigil's default of 20, so the case runs with
			// the oracle's threshold.
			Name: "zeek ssh/sshguess", Source: "public", AuthThreshold: 10,
			Captures: []string{zeek("ssh/sshguess.pcap")},
			Anomalies: []Anomaly{{
				Name: "SSH password guessing", Device: "192.168.56.1", Peers: []string{"192.168.56.103"},
				Rules:  []string{RuleAuthBurst},
				Oracle: "Zeek notice.log (scripts.policy.protocols.ssh.detect-bruteforcing): SSH::Password_Guessing, 192.168.56.1 appears to be guessing SSH passwords (seen in 10 connections)",
			}},
		},
		{
			Name: "ntop synscan", Source: "public",
			Captures: []string{filepath.Join(pcaps, "ntop_nDPI/tests/cfgs/default/pcap/synscan.pcap")},
			Anomalies: []Anomaly{{
				Name: "nmap SYN scan of 1000 ports", Device: "172.16.0.8", Peers: []string{"172.16.0.1"},
				Rules:  []string{RuleScan},
				Oracle: "tshark: 172.16.0.8 sends 1994 SYNs to 1000 distinct (host, port) targets",
			}},
		},
		{
			Name: "chrissanders synscan", Source: "public",
			Captures: []string{filepath.Join(pcaps, "chrissanders_packets/synscan.pcapng")},
			Anomalies: []Anomaly{{
				Name: "nmap SYN scan of 1000 ports", Device: "172.16.0.8", Peers: []string{"172.16.0.1"},
				Rules:  []string{RuleScan},
				Oracle: "tshark: 172.16.0.8 sends 1994 SYNs to 1000 distinct (host, port) targets",
			}},
		},
	}
}

// SynthCase writes the synthetic ward (internal/synth, the demo's
// generator) with the given phases into dir and returns its case: the
// generator's own list of injected anomalies is the oracle.
func SynthCase(dir string, learning, detection time.Duration) (Case, error) {
	opts := synth.DefaultOptions()
	opts.Learning, opts.Detection = learning, detection
	sc := synth.Ward(opts)
	path := filepath.Join(dir, "ward.pcap")
	if err := sc.WritePCAPFile(path); err != nil {
		return Case{}, fmt.Errorf("synthetic ward: %w", err)
	}
	c := Case{
		Name: fmt.Sprintf("synthetic ward (%s learning, %s detection)", learning, detection), Source: "synthetic",
		Captures: []string{path}, Learn: learning,
	}
	for _, a := range sc.Anomalies {
		dev, ok := sc.Device(a.Device)
		if !ok {
			return Case{}, fmt.Errorf("synthetic ward: anomaly on unknown device %q", a.Device)
		}
		an := Anomaly{Name: a.Note, Device: dev.IP.String(), Start: a.Start, End: a.End, Oracle: "internal/synth scenario"}
		if a.PeerDevice != "" {
			an.Peers = []string{a.Peer.String()}
		}
		switch a.Kind {
		case synth.KindInternet:
			an.Rules = []string{RuleInternet}
		case synth.KindScan:
			an.Rules = []string{RuleScan}
		case synth.KindNewPeer:
			an.Rules = []string{RuleNewPeer, RuleLifePeer}
		}
		c.Anomalies = append(c.Anomalies, an)
	}
	return c, nil
}
