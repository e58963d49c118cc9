package output

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-health/vigil/alerts"
	"github.com/vigil-health/vigil/events"
)

var t0 = time.Date(2026, 1, 5, 8, 33, 0, 181182000, time.UTC)

func newBus(t *testing.T) *events.Bus {
	t.Helper()
	b, err := events.NewBus(events.DefaultConfiguration(), events.Dependencies{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop(context.Background()) })
	if err := alerts.DeclareSOCStream(ctx, b.JetStream(), alerts.DefaultConfiguration().SOC, 1); err != nil {
		t.Fatal(err)
	}
	return b
}

// record is the SOC record of the demo's internet alert, its description
// holding every character syslog and CEF escape.
func record(i int, sev events.Severity) alerts.Record {
	a := events.Alert{
		Rule: "internet_communication", Severity: sev,
		Title:       "INF-PUMP-02 communicated with internet address 203.0.113.45:443 | \"quoted\" ]",
		Description: "talked to 203.0.113.45 on tcp/443\nnever seen while learning; a=b \\ c",
		Device: events.DeviceSnapshot{
			Key: "mac:00:12:21:4e:0a:12/20", ID: "dev-1", MAC: "00:12:21:4e:0a:12", IPs: []string{"10.20.0.102"}, VLAN: 20,
			Attributes: map[string]string{"hostname": "INF-PUMP-02"}, Category: "infusion_pump", Medical: true,
			Criticality: "life_sustaining", Location: "Ward 3, bed 12",
		},
		Peer: &events.Endpoint{IP: "203.0.113.45", Port: 443}, Tags: []string{"medical", "mitre:T0883"},
		DeviationID: "2f7d3badade7fa2114d3fc36316afe5a", DecisionID: "9b1c", PolicyRevision: "rev-1",
	}
	ev := events.MustEvent(t0.Add(time.Duration(i)*time.Second), events.Source{Component: "policy", Name: "default"}, a)
	return alerts.Record{AlertSeq: uint64(10 + i), Alert: ev, Incident: alerts.RecordIncident{
		ID: alerts.IncidentID(a.Rule, a.Device.Key, a.Peer.IP), State: alerts.StateOpen, Severity: sev,
		Count: uint64(i + 1), FirstSeen: t0, LastSeen: ev.Time, MITRE: []string{"T0883"},
	}}
}

func publish(t *testing.T, b *events.Bus, recs ...alerts.Record) {
	t.Helper()
	for _, r := range recs {
		if err := b.Publish(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func startOutputs(t *testing.T, b *events.Bus, cfg alerts.OutputsConfiguration) *Component {
	t.Helper()
	full := alerts.DefaultConfiguration()
	full.Outputs = cfg
	if errs := full.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	c, err := New(cfg, Dependencies{JetStream: b.JetStream(), Product: Product{Vendor: "Vigil", Name: "Vigil", Version: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	return c
}

// eventually polls cond until it holds or 20 s passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deadLetters reads the dead letters of an output.
func deadLetters(t *testing.T, b *events.Bus, name string) []DeadLetter {
	t.Helper()
	ctx := context.Background()
	cons, err := b.JetStream().OrderedConsumer(ctx, alerts.SOCStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{alerts.DeadLetterSubject(name)}})
	if err != nil {
		t.Fatal(err)
	}
	var out []DeadLetter
	for {
		msgs, err := cons.FetchNoWait(100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range msgs.Messages() {
			n++
			var dl DeadLetter
			if err := json.Unmarshal(m.Data(), &dl); err != nil {
				t.Fatal(err)
			}
			out = append(out, dl)
		}
		if n == 0 {
			return out
		}
	}
}

// selfSigned writes a CA certificate for 127.0.0.1 and returns the
// server's TLS configuration and the CA file.
func selfSigned(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "syslog.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"syslog.test"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, ca
}
