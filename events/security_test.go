package events

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// testPKI is a CA with a server and a client certificate, written as PEM
// files into a directory.
type testPKI struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
	// OtherCA signed nothing this server trusts.
	OtherCA string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	serial := int64(1)
	cert := func(tmpl *x509.Certificate, parent *x509.Certificate, pub, signer any) (*x509.Certificate, []byte) {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(time.Hour)
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, der
	}
	caKey := key()
	ca, caDER := cert(&x509.Certificate{Subject: pkix.Name{CommonName: "vigil test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, &caKey.PublicKey, caKey)
	otherKey := key()
	_, otherDER := cert(&x509.Certificate{Subject: pkix.Name{CommonName: "another CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, &otherKey.PublicKey, otherKey)
	srvKey := key()
	_, srvDER := cert(&x509.Certificate{Subject: pkix.Name{CommonName: "nats"}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}, ca, &srvKey.PublicKey, caKey)
	cliKey := key()
	_, cliDER := cert(&x509.Certificate{Subject: pkix.Name{CommonName: "vigil-engine"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature},
		ca, &cliKey.PublicKey, caKey)
	der := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return testPKI{
		CA: write("ca.pem", "CERTIFICATE", caDER), OtherCA: write("other-ca.pem", "CERTIFICATE", otherDER),
		ServerCert: write("server.pem", "CERTIFICATE", srvDER), ServerKey: write("server-key.pem", "EC PRIVATE KEY", der(srvKey)),
		ClientCert: write("client.pem", "CERTIFICATE", cliDER), ClientKey: write("client-key.pem", "EC PRIVATE KEY", der(cliKey)),
	}
}

// startSecureServer runs a real nats-server (in process) from a
// configuration file: TLS that verifies client certificates, an account
// with JetStream, an engine user with a password, and a sensor nkey that
// may only publish sensor subjects, as deploy/nats configures roles.
func startSecureServer(t *testing.T, pki testPKI, sensorPub string) string {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf(`
listen: "127.0.0.1:-1"
server_name: secure
jetstream { store_dir: %q, max_file_store: 200GB, max_memory_store: 64MB }
tls { cert_file: %q, key_file: %q, ca_file: %q, verify: true, timeout: 5 }
accounts {
  VIGIL {
    jetstream: enabled
    users: [
      { user: engine, password: "s3cret-engine-pw" }
      { nkey: %s, permissions: {
          publish: { allow: ["vigil.v1.flow.>", "vigil.v1.observation.>", "vigil.v1.auth.>", "vigil.v1.health.>",
                             "$JS.API.INFO", "$JS.API.STREAM.INFO.*"] }
          subscribe: { allow: ["_INBOX.>"] } } }
    ]
  }
}
`, filepath.Join(dir, "js"), pki.ServerCert, pki.ServerKey, pki.CA, sensorPub)
	path := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats configuration: %v", err)
	}
	opts.NoSigs = true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns.ClientURL()
}

func writeSecret(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSecureConnections connects the bus to a nats-server that requires
// TLS with client certificates and authenticated users: the right
// certificate and secret work, each wrong one is refused with an error
// that names the problem and never the secret, and a sensor's role may
// publish sensor events but nothing else.
func TestSecureConnections(t *testing.T) {
	pki := newTestPKI(t)
	sensorKey, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	sensorPub, _ := sensorKey.PublicKey()
	sensorSeed, _ := sensorKey.Seed()
	url := startSecureServer(t, pki, sensorPub)
	url = strings.Replace(url, "nats://", "tls://", 1)
	goodTLS := TLSConfiguration{CAFile: pki.CA, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}
	const password = "s3cret-engine-pw"

	connect := func(sec SecurityConfiguration) (*Bus, error) {
		cfg := DefaultConfiguration()
		cfg.URL = url
		cfg.Security = sec
		cfg.PublishTimeout = 2 * time.Second
		b, err := NewBus(cfg, Dependencies{})
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Start(ctx); err != nil {
			return nil, err
		}
		t.Cleanup(func() { stopBus(t, b) })
		return b, nil
	}

	// The engine declares the streams; its password comes from a file.
	engine, err := connect(SecurityConfiguration{TLS: goodTLS, User: "engine", PasswordFile: writeSecret(t, "pw", password+"\n")})
	if err != nil {
		t.Fatalf("engine with TLS and a password file: %v", err)
	}
	if err := engine.Publish(context.Background(), testFlow(1)); err != nil {
		t.Fatalf("engine publish: %v", err)
	}

	// The sensor's nkey seed file: it may publish flows...
	sensor, err := connect(SecurityConfiguration{TLS: goodTLS, NkeySeedFile: writeSecret(t, "sensor.nk", string(sensorSeed))})
	if err != nil {
		t.Fatalf("sensor with an nkey seed: %v", err)
	}
	if err := sensor.Publish(context.Background(), testFlow(2)); err != nil {
		t.Fatalf("sensor publish of a flow: %v", err)
	}
	// ...but not an alert.
	alert := MustEvent(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC), Source{Component: "policy"}, Alert{Rule: "forged", Severity: "critical"})
	if err := sensor.Publish(context.Background(), alert); err == nil {
		t.Error("the sensor role published an alert")
	}
	var stored uint64
	if err := engine.Read(context.Background(), StreamSensor, []Kind{KindFlow}, func(Delivery) error { stored++; return nil }); err != nil {
		t.Fatal(err)
	}
	if stored != 2 {
		t.Errorf("%d flows stored, want 2 (engine and sensor)", stored)
	}

	for _, tc := range []struct {
		name string
		sec  SecurityConfiguration
		want string // in the error
	}{
		{"no client certificate", SecurityConfiguration{TLS: TLSConfiguration{CAFile: pki.CA}, User: "engine", Password: password}, ""},
		{"untrusted server", SecurityConfiguration{TLS: TLSConfiguration{CAFile: pki.OtherCA, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}, User: "engine", Password: password}, "certificate"},
		{"wrong password", SecurityConfiguration{TLS: goodTLS, User: "engine", Password: "wrong-pw-123"}, "authorization"},
		{"no TLS", SecurityConfiguration{User: "engine", Password: password}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := connect(tc.sec)
			if err == nil {
				t.Fatal("connected")
			}
			msg := strings.ToLower(err.Error())
			if tc.want != "" && !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			for _, secret := range []string{password, "wrong-pw-123"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows the password: %v", err)
				}
			}
		})
	}
}

func TestSecurityConfigurationValidate(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	cfg := DefaultConfiguration()
	cfg.URL = "nats://x:4222"
	cfg.Security = SecurityConfiguration{
		TLS:             TLSConfiguration{CertFile: missing},
		CredentialsFile: missing, User: "u", Password: "p", PasswordFile: missing,
	}
	var got []string
	for _, e := range cfg.Validate() {
		got = append(got, e.Error())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"security.tls.cert_file and key_file: give both or neither",
		"security.tls.cert_file:",
		"security: give one of credentials_file, nkey_seed_file or user",
		"security.password and security.password_file: give one",
		"security.credentials_file:",
		"security.password_file:",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no error %q in:\n%s", want, all)
		}
	}
	if strings.Contains(all, `"p"`) {
		t.Errorf("validation shows the password:\n%s", all)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://a:4222":                           "nats://a:4222",
		"nats://u:pw@a:4222,nats://b:4222":        "nats://u:redacted@a:4222,nats://b:4222",
		"tls://tok3n@a:4222":                      "tls://redacted@a:4222",
		"nats://u:pw@a:4222, nats://v:pw2@b:4222": "nats://u:redacted@a:4222,nats://v:redacted@b:4222",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzRedactURL: whatever the configured URLs, every URL that had a
// password or a token comes out with "redacted" in its place.
func FuzzRedactURL(f *testing.F) {
	for _, s := range []string{"nats://u:pw@a:4222", "tls://tok@a:4222,nats://b", "nats://a", "::", "nats://u:p%40ss@h:1, nats://x:y@z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ins, outs := strings.Split(in, ","), strings.Split(RedactURL(in), ",")
		if len(ins) != len(outs) {
			return // a user name with an escaped comma: not a NATS URL list
		}
		for i := range ins {
			u, err := url.Parse(strings.TrimSpace(ins[i]))
			if err != nil || u.User == nil {
				continue
			}
			ru, err := url.Parse(outs[i])
			if err != nil || ru.User == nil {
				t.Fatalf("RedactURL(%q): %q lost its user", in, outs[i])
			}
			if _, had := u.User.Password(); had {
				if p, _ := ru.User.Password(); p != "redacted" {
					t.Errorf("RedactURL(%q) = %q keeps the password", in, outs[i])
				}
			} else if ru.User.Username() != "redacted" {
				t.Errorf("RedactURL(%q) = %q keeps the token", in, outs[i])
			}
		}
	})
}
