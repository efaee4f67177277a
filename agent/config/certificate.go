package config

import (
	"crypto/rsa"
	"os"
	"runtime"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// CertificateWarnAhead is how long before a client certificate expires check and the running
// agent's health warn: an unattended site otherwise finds out when every room stops syncing.
const CertificateWarnAhead = 30 * 24 * time.Hour

// clientCertificate reads an integration's client_certificate_file the way the Graph
// credential will (azidentity.ParseCertificates: PEM with the key, or PKCS#12), so a file the
// agent cannot use fails here, with its line, instead of at the first token request.
func (l *loader) clientCertificate(owner string, in *Integration) {
	l.resolveSecret(owner, &in.ClientCertificatePassword, in.ClientCertificatePasswordFile, in.Pos, "client_certificate_password", false)
	line := in.Pos.Line("client_certificate_file")
	path := l.abs(in.ClientCertificateFile)
	in.ClientCertificateFile = path
	if l.skipSecrets {
		return // it holds the private key
	}
	data, err := os.ReadFile(path)
	if err != nil {
		l.errorf(line, "%sclient_certificate_file: cannot read %s: %s", owner, path, describeFileErr(err))
		return
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			l.warnf(line, "%sclient_certificate_file %s holds a private key and is readable by group or others (mode %04o); run: chmod 600 %s",
				owner, path, fi.Mode().Perm(), path)
		}
	}
	certs, key, err := azidentity.ParseCertificates(data, []byte(in.ClientCertificatePassword.Value()))
	if err != nil {
		// The parser's message never carries the password; it may name the file's structure.
		l.errorf(line, "%sclient_certificate_file %s: cannot read the certificate and its private key (%s); give a PEM file "+
			"with both (openssl pkcs12 -in FILE.pfx -nodes -out graph.pem converts a .pfx), or a .pfx with legacy (3DES) "+
			"encryption and its client_certificate_password", owner, path, err)
		return
	}
	if _, ok := key.(*rsa.PrivateKey); !ok {
		l.errorf(line, "%sclient_certificate_file %s: the private key is %T; Entra certificate credentials need an RSA key", owner, path, key)
		return
	}
	leaf := certs[0]
	if pub, ok := leaf.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(key.(*rsa.PrivateKey).Public()) {
		l.errorf(line, "%sclient_certificate_file %s: the private key does not belong to the first certificate (%s)", owner, path, leaf.Subject)
		return
	}
	now := l.now()
	switch {
	case now.After(leaf.NotAfter):
		l.warnf(line, "%sclient_certificate_file %s: the certificate (%s) expired on %s; Entra will refuse it: create a new one and upload it to the app registration",
			owner, path, leaf.Subject, leaf.NotAfter.UTC().Format(time.DateOnly))
	case leaf.NotAfter.Sub(now) < CertificateWarnAhead:
		l.warnf(line, "%sclient_certificate_file %s: the certificate (%s) expires on %s; upload its successor to the app registration before then",
			owner, path, leaf.Subject, leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	in.ClientCertificates, in.ClientKey = certs, key
}
