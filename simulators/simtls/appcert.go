package simtls

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"time"
)

// AppCertificate is a self-signed certificate with its RSA key, as an Entra app registration's
// certificate credential uses (Entra takes RSA keys only): graphsim is given the certificate,
// the agent the PEM file with both.
type AppCertificate struct {
	Cert *x509.Certificate
	Key  *rsa.PrivateKey
}

// NewAppCertificate makes a certificate for commonName valid from notBefore to notAfter.
func NewAppCertificate(commonName string, notBefore, notAfter time.Time) (AppCertificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return AppCertificate{}, fmt.Errorf("app certificate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: commonName},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return AppCertificate{}, fmt.Errorf("app certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return AppCertificate{}, fmt.Errorf("app certificate: %w", err)
	}
	return AppCertificate{Cert: cert, Key: key}, nil
}

// PEM is the certificate followed by its PKCS#8 private key: a client_certificate_file.
func (a AppCertificate) PEM() []byte {
	key, err := x509.MarshalPKCS8PrivateKey(a.Key)
	if err != nil {
		panic(fmt.Sprintf("simtls: marshal an RSA key: %v", err)) // cannot fail for RSA
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Cert.Raw})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})...)
}

// CertPEM is the certificate alone: what is uploaded to the app registration.
func (a AppCertificate) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Cert.Raw})
}
