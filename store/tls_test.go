package store

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/store/chtest"
)

// writeTestCerts writes a CA and a server certificate for 127.0.0.1 (PEM)
// into dir and returns their paths.
func writeTestCerts(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, srvKey := newKey(), newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigil test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "clickhouse"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	// PKCS#8: the OpenSSL of every ClickHouse release reads it.
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", srvDER), write("server-key.pem", "PRIVATE KEY", keyDER)
}

// TestTLSAndPassword runs a ClickHouse server with the native protocol
// over TLS and a user with a password, and connects the store with the
// CA and a password file: it works; a wrong password, no CA, or plain TCP
// to the TLS port are refused, and no error shows the password.
func TestTLSAndPassword(t *testing.T) {
	s := chtest.Start(t) // its own server: this test reconfigures it
	ca, cert, key := writeTestCerts(t, t.TempDir())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	securePort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	const password = "ch-s3cret-pw"
	sum := sha256.Sum256([]byte(password))
	for _, f := range []struct{ dir, name, text string }{
		{"config.d", "tls.xml", fmt.Sprintf(`<yandex><tcp_port_secure>%d</tcp_port_secure><openSSL><server>
<certificateFile>%s</certificateFile><privateKeyFile>%s</privateKeyFile><verificationMode>none</verificationMode>
<loadDefaultCAFile>false</loadDefaultCAFile><cacheSessions>true</cacheSessions><disableProtocols>sslv2,sslv3</disableProtocols>
<preferServerCiphers>true</preferServerCiphers></server></openSSL></yandex>`, securePort, cert, key)},
		{"users.d", "vigil.xml", fmt.Sprintf(`<yandex><users><vigil><password_sha256_hex>%s</password_sha256_hex>
<networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></vigil></users></yandex>`, hex.EncodeToString(sum[:]))},
	} {
		if err := os.MkdirAll(filepath.Join(s.Dir, f.dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.Dir, f.dir, f.name), []byte(f.text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.Stop(t)
	s.Restart(t)

	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte(password+"\n"), 0o600)
	cfg := DefaultConfiguration()
	cfg.Addresses = []string{fmt.Sprintf("127.0.0.1:%d", securePort)}
	cfg.Database = s.Database(t)
	cfg.Username, cfg.PasswordFile = "vigil", pwFile
	cfg.TLS = events.TLSConfiguration{CAFile: ca}
	cfg.DialTimeout = 3 * time.Second
	if errs := cfg.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("TLS with a password file: %v", err)
	}
	var user string
	// currentUser() is newer than 18.16: the query finds itself instead.
	if err := conn.QueryRow(ctx, "SELECT user FROM system.processes WHERE query LIKE '%vigil-whoami%'").Scan(&user); err != nil || user != "vigil" {
		t.Errorf("connected as %q (%v), want vigil", user, err)
	}
	conn.Close()

	wrongCA, _, _ := writeTestCerts(t, t.TempDir())
	for _, tc := range []struct {
		name string
		mod  func(*Configuration)
	}{
		{"wrong password", func(c *Configuration) { c.PasswordFile, c.Password = "", "wrong-ch-pw" }},
		{"untrusted server", func(c *Configuration) { c.TLS.CAFile = wrongCA }},
		{"plain TCP to the TLS port", func(c *Configuration) { c.TLS = events.TLSConfiguration{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			tc.mod(&c)
			conn, err := Open(ctx, c)
			if err == nil {
				conn.Close()
				t.Fatal("connected")
			}
			t.Logf("refused: %v", err)
			for _, secret := range []string{password, "wrong-ch-pw"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows the password: %v", err)
				}
			}
		})
	}
}
