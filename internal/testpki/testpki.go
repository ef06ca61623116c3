// Package testpki makes throwaway certificate authorities for gatewatch's
// TLS tests: a CA, a server certificate for 127.0.0.1 and localhost, and a
// client certificate, valid for an hour.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a test CA and two certificates it signed.
type PKI struct {
	Pool   *x509.CertPool  // trusts the CA
	Server tls.Certificate // CN=server, for 127.0.0.1 and localhost
	Client tls.Certificate // CN=edge-1,O=gatewatch, for client auth

	caDER []byte
}

// New makes a PKI; it fails t on error.
func New(t testing.TB) *PKI {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatewatch test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage) tls.Certificate {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, Organization: []string{"gatewatch"}},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	p := &PKI{Pool: x509.NewCertPool(), caDER: caDER}
	p.Pool.AddCert(ca)
	p.Server = leaf(2, "server", x509.ExtKeyUsageServerAuth)
	p.Client = leaf(3, "edge-1", x509.ExtKeyUsageClientAuth)
	return p
}

// Files are PEM files written by WriteFiles.
type Files struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

// WriteFiles writes the CA and both key pairs as PEM into dir.
func (p *PKI) WriteFiles(t testing.TB, dir string) Files {
	t.Helper()
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	key := func(c tls.Certificate) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	return Files{
		CA:         write("ca.pem", "CERTIFICATE", p.caDER),
		ServerCert: write("server.pem", "CERTIFICATE", p.Server.Certificate[0]),
		ServerKey:  write("server-key.pem", "PRIVATE KEY", key(p.Server)),
		ClientCert: write("client.pem", "CERTIFICATE", p.Client.Certificate[0]),
		ClientKey:  write("client-key.pem", "PRIVATE KEY", key(p.Client)),
	}
}
