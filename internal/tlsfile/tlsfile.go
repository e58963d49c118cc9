// Package tlsfile loads the PEM files that Vigil's TLS clients are
// configured with (a private CA for a firewall, a SIEM, NATS, InsightVM).
package tlsfile

import (
	"crypto/x509"
	"fmt"
	"os"
)

// CertPool reads the CA certificates of a PEM file. The error names the
// file and says whether it was unreadable or held no certificate, the two
// mistakes operators make.
func CertPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificate in %s", path)
	}
	return pool, nil
}
