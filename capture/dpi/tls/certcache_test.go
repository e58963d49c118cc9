package tls

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// TestCertCacheGivesTheParsedFacts: the cache returns what parsing gives,
// for each certificate (never another's), and stays bounded.
func TestCertCacheGivesTheParsedFacts(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var ders [][]byte
	for i := range 3 {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)),
			Subject:  pkix.Name{CommonName: []string{"pacs.ward", "lis.lab", "ehr.main"}[i], Organization: []string{"Hospital"}},
			NotAfter: time.Date(2030, 1, 2+i, 0, 0, 0, 0, time.UTC)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		ders = append(ders, der)
	}
	ders = append(ders, []byte("not a certificate"))
	var c certCache
	for round := range 3 {
		for i, der := range ders {
			want := parseCertFacts(der)
			if got := c.facts(der); got != want {
				t.Fatalf("round %d, certificate %d: %+v, want %+v", round, i, got, want)
			}
		}
	}
	if f := c.facts(ders[0]); !f.ok || f.subject != "CN=pacs.ward,O=Hospital" || f.notAfter != "2030-01-02T00:00:00Z" || f.selfSigned != "true" {
		t.Errorf("facts of the first certificate: %+v", f)
	}
	if f := c.facts(ders[3]); f.ok {
		t.Errorf("facts of a broken certificate: %+v", f)
	}
	for i := range maxCachedCerts + 10 {
		c.facts(append([]byte{byte(i), byte(i >> 8)}, ders[3]...))
	}
	if len(c.m) > maxCachedCerts {
		t.Errorf("%d certificates remembered, the bound is %d", len(c.m), maxCachedCerts)
	}
}
