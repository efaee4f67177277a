package config

import (
	"os"
	"runtime"
	"time"

	"github.com/otj-edge/otj-edge/sync/graph/graphconf"
)

// CertificateWarnAhead is how long before a client certificate expires check and the running
// agent's health warn: an unattended site otherwise finds out when every room stops syncing.
const CertificateWarnAhead = graphconf.CertificateWarnAhead

// clientCertificate reads an integration's client_certificate_file with the Graph source's own
// parser (graphconf: PEM with the key, or PKCS#12), so a file the agent cannot use fails here,
// with its line, instead of at the first token request.
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
	certs, key, err := graphconf.ParseClientCertificate(data, in.ClientCertificatePassword.Value())
	if err != nil {
		l.errorf(line, "%sclient_certificate_file %s: %s", owner, path, err)
		return
	}
	leaf := certs[0]
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
