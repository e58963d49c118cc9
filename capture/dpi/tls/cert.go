package tls

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"strings"
	"time"

	"github.com/vigil-health/vigil/capture/dpi"
)

// observeCertificate publishes the facts of the server's leaf
// certificate. A certificate crypto/x509 refuses is skipped: it is the
// server's business, not a malformed stream.
func observeCertificate(p *dpi.Packet, der []byte, out *dpi.Output, cache *certCache) {
	if len(der) == 0 || len(der) > maxCertificate {
		return
	}
	f := cache.facts(der)
	if !f.ok {
		return
	}
	if f.subject != "" {
		out.Observe(p, dpi.Sender, dpi.AttrTLSCertSubject, f.subject, Protocol, 0.9, "server Certificate leaf subject")
	}
	if f.issuer != "" {
		out.Observe(p, dpi.Sender, dpi.AttrTLSCertIssuer, f.issuer, Protocol, 0.9, "server Certificate leaf issuer")
	}
	out.Observe(p, dpi.Sender, AttrCertNotAfter, f.notAfter, Protocol, 0.9, "server Certificate leaf notAfter")
	out.Observe(p, dpi.Sender, AttrCertSelfSigned, f.selfSigned, Protocol, 0.9, "server Certificate leaf issuer and signature")
}

// certFacts are what observeCertificate publishes of one certificate.
type certFacts struct {
	ok                                    bool // crypto/x509 parsed it
	subject, issuer, notAfter, selfSigned string
}

func parseCertFacts(der []byte) certFacts {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return certFacts{}
	}
	f := certFacts{ok: true, selfSigned: "false",
		subject:  dpi.Text([]byte(distinguishedName(cert.RawSubject))),
		issuer:   dpi.Text([]byte(distinguishedName(cert.RawIssuer))),
		notAfter: cert.NotAfter.UTC().Format(time.RFC3339)}
	if isSelfSigned(cert) {
		f.selfSigned = "true"
	}
	return f
}

// certCache remembers the facts of the certificates seen, by their
// SHA-256: a server presents the same certificate on every connection,
// and parsing it (x509 and the names) cost more than the rest of the TLS
// dissector. A cryptographic hash, so that no certificate can pass for
// another; bounded, emptied when full. The zero value is ready; nil
// parses every time.
type certCache struct {
	m map[[sha256.Size]byte]certFacts
}

const maxCachedCerts = 1024

func (c *certCache) facts(der []byte) certFacts {
	if c == nil {
		return parseCertFacts(der)
	}
	k := sha256.Sum256(der)
	if f, ok := c.m[k]; ok {
		return f
	}
	f := parseCertFacts(der)
	if c.m == nil || len(c.m) >= maxCachedCerts {
		c.m = make(map[[sha256.Size]byte]certFacts, 64)
	}
	c.m[k] = f
	return f
}

// distinguishedName formats a DER Name in RFC 4514 order (most specific
// first, as OpenSSL and Zeek print it), keeping the certificate's own
// attribute order rather than the normalised one of pkix.Name. Only the
// attribute types below are kept: an emailAddress names a person, and
// unnamed OIDs would print as hex.
func distinguishedName(raw []byte) string {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &rdns); err != nil || len(rest) > 0 {
		return ""
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		sep := ","
		for _, atv := range rdns[i] {
			name := attributeName(atv.Type)
			value, ok := atv.Value.(string)
			if name == "" || !ok {
				continue
			}
			if b.Len() > 0 {
				b.WriteString(sep)
			}
			sep = "+" // a multi-valued RDN
			b.WriteString(name)
			b.WriteByte('=')
			escapeDNValue(&b, value)
		}
	}
	return b.String()
}

// attributeName is the RFC 4514 short name of the attribute types kept.
func attributeName(oid asn1.ObjectIdentifier) string {
	if len(oid) == 4 && oid[0] == 2 && oid[1] == 5 && oid[2] == 4 {
		switch oid[3] {
		case 3:
			return "CN"
		case 5:
			return "SERIALNUMBER"
		case 6:
			return "C"
		case 7:
			return "L"
		case 8:
			return "ST"
		case 9:
			return "STREET"
		case 10:
			return "O"
		case 11:
			return "OU"
		case 17:
			return "POSTALCODE"
		}
		return ""
	}
	if oid.Equal(oidDomainComponent) {
		return "DC" // enterprise CAs (Active Directory) name themselves by domain
	}
	return ""
}

var oidDomainComponent = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}

// escapeDNValue escapes a value as RFC 4514 2.4 asks.
func escapeDNValue(b *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';',
			i == 0 && (c == ' ' || c == '#'),
			i == len(v)-1 && c == ' ':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
}

// isSelfSigned tells whether the certificate names itself as issuer and
// its signature verifies with its own key. When the signature algorithm
// is one Go no longer verifies (MD5, SHA-1), matching key identifiers (or
// none) stand in for the signature.
func isSelfSigned(cert *x509.Certificate) bool {
	if !bytes.Equal(cert.RawSubject, cert.RawIssuer) {
		return false
	}
	err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature)
	if err == nil {
		return true
	}
	var insecure x509.InsecureAlgorithmError
	if errors.As(err, &insecure) || errors.Is(err, x509.ErrUnsupportedAlgorithm) {
		return len(cert.AuthorityKeyId) == 0 || bytes.Equal(cert.AuthorityKeyId, cert.SubjectKeyId)
	}
	return false
}
