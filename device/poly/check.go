package poly

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// CertificateInfo describes, for `otj-edge check`, the certificate the calendar service will
// present: the configured pair (which must load and match), or the self-signed one in stateDir
// (not made here: only the running agent makes it). now dates the expiry warning.
func CertificateInfo(certFile, keyFile, stateDir string, now time.Time) (string, error) {
	kind := "configured"
	if certFile == "" {
		kind = "self-signed"
		certFile, keyFile = filepath.Join(stateDir, SelfSignedCertFile), filepath.Join(stateDir, SelfSignedKeyFile)
		if _, err := os.Stat(certFile); errors.Is(err, os.ErrNotExist) {
			return "no certificate yet: the agent makes a self-signed one in " + stateDir + " when it first runs", nil
		}
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return "", fmt.Errorf("%s certificate %s: %w", kind, certFile, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return "", fmt.Errorf("%s certificate %s: %w", kind, certFile, err)
	}
	if now.After(leaf.NotAfter) {
		return "", fmt.Errorf("%s certificate %s expired on %s", kind, certFile, leaf.NotAfter.Format("2006-01-02"))
	}
	info := fmt.Sprintf("%s certificate for %v, valid until %s, SHA-256 %s", kind, names(leaf), leaf.NotAfter.Format("2006-01-02"), fingerprintOf(&pair))
	if leaf.NotAfter.Sub(now) < 30*24*time.Hour {
		return "", errors.New(info + ": expires within 30 days")
	}
	return info, nil
}

func names(c *x509.Certificate) []string {
	out := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	if len(out) == 0 {
		out = append(out, c.Subject.CommonName)
	}
	return out
}

// RESTReport is what one REST health check found.
type RESTReport struct {
	Model, Software, Calendar string
	// SHA256 is the certificate the endpoint presented (hex).
	SHA256 string
}

// CheckREST logs in to an endpoint's REST API once (for `otj-edge check`): the endpoint's
// certificate is verified against a.CAFile, a.Fingerprint or pinnedSHA256 when given, and
// otherwise only reported.
func CheckREST(ctx context.Context, a Account, pinnedSHA256 string) (RESTReport, error) {
	c, err := newRESTClient(&account{Account: a}, pinnedSHA256)
	if err != nil {
		return RESTReport{}, err
	}
	st := c.check(ctx)
	r := RESTReport{Model: st.Model, Software: st.Software, Calendar: st.Calendar, SHA256: c.ver.Presented()}
	if st.Error != "" {
		return r, errors.New(st.Error)
	}
	return r, nil
}
