// Package graphconf parses what a Microsoft Graph integration's settings name: the Entra token
// endpoint (tenant and authority host), the Graph root, and the app registration's client
// certificate. The config loader calls it to report a bad value with its line, and package graph
// calls it to build the credential, so there is one parser and one set of messages.
//
// It imports no project package: agent/config may use it without pulling in the Graph source.
package graphconf

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Defaults of a Graph integration.
const (
	DefaultGraphURL          = "https://graph.microsoft.com/v1.0"
	DefaultMaxRequestsPerDay = 1_000_000
	DefaultMaxInFlight       = 8
)

// CertificateWarnAhead is how long before a client certificate expires check and the running
// agent's health warn: an unattended site otherwise finds out when every room stops syncing.
const CertificateWarnAhead = 30 * 24 * time.Hour

// tokenPathRE is the Entra v2 token endpoint's path: /{tenant}/oauth2/v2.0/token.
var tokenPathRE = regexp.MustCompile(`^/([^/]+)/oauth2/v2\.0/token/?$`)

// ParseTokenURL derives the tenant and the Entra authority host (e.g.
// https://login.microsoftonline.com/) from a v2 token endpoint URL. The error names token_url
// and says what the value should look like.
func ParseTokenURL(s string) (tenant, authorityHost string, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", "", fmt.Errorf("token_url %q must be an https URL like https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token", s)
	}
	m := tokenPathRE.FindStringSubmatch(u.Path)
	if m == nil {
		return "", "", fmt.Errorf("token_url %q is not a v2 token endpoint (…/<tenant>/oauth2/v2.0/token)", s)
	}
	return m[1], u.Scheme + "://" + u.Host + "/", nil
}

// NormalizeGraphURL accepts a Graph FQDN (Pexip's "Graph API FQDN"), a root URL, or a root with
// the version, and returns https://host[:port]/v1.0.
func NormalizeGraphURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%q is not a URL or host name", s)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("%q must use https", s)
	}
	p := strings.TrimSuffix(u.Path, "/")
	switch p {
	case "", "/v1.0":
	default:
		return "", fmt.Errorf("%q: expected the Graph root with /v1.0 (e.g. https://graph.microsoft.com/v1.0)", s)
	}
	return "https://" + u.Host + "/v1.0", nil
}

// ParseClientCertificate reads a client_certificate_file's contents the way the Graph
// credential uses them (azidentity.ParseCertificates: PEM with the key, or PKCS#12 with
// password), and checks what Entra needs: an RSA key that belongs to the first certificate.
// The error never carries the password.
func ParseClientCertificate(data []byte, password string) ([]*x509.Certificate, crypto.PrivateKey, error) {
	certs, key, err := azidentity.ParseCertificates(data, []byte(password))
	if err != nil {
		// The parser's message never carries the password; it may name the file's structure.
		return nil, nil, fmt.Errorf("cannot read the certificate and its private key (%s); give a PEM file "+
			"with both (openssl pkcs12 -in FILE.pfx -nodes -out graph.pem converts a .pfx), or a .pfx with legacy (3DES) "+
			"encryption and its client_certificate_password", err)
	}
	if len(certs) == 0 {
		return nil, nil, errors.New("cannot read the certificate and its private key (no certificate in it)")
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("the private key is %T; Entra certificate credentials need an RSA key", key)
	}
	leaf := certs[0]
	if pub, ok := leaf.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(rk.Public()) {
		return nil, nil, fmt.Errorf("the private key does not belong to the first certificate (%s)", leaf.Subject)
	}
	return certs, key, nil
}

// Thumbprint is a certificate's SHA-1 thumbprint in upper-case hex, as the app registration's
// Certificates & secrets page shows it; "" for nil.
func Thumbprint(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	sum := sha1.Sum(c.Raw) // #nosec G401: an identifier, as Entra shows it
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// The change probe (calendar getSchedule, sync/graph/probe.go): its modes and defaults, shared
// by the config loader and the Graph source.
const (
	// ProbeAuto probes app-only integrations, and delegated ones whose scopes include a
	// permission getSchedule documents for delegated calls (Calendars.Read or
	// Calendars.ReadWrite; the default Calendars.Read.Shared is not one).
	ProbeAuto = "auto"
	// ProbeOn probes whatever the auth mode; ProbeOff never does (polling as without a probe).
	ProbeOn  = "on"
	ProbeOff = "off"
	// DefaultProbeHotInterval is how often rooms with a meeting soon or running are probed,
	// DefaultProbeColdInterval the others (both stretch with the budget like the polls).
	DefaultProbeHotInterval  = 7 * time.Second
	DefaultProbeColdInterval = 60 * time.Second
	// MinProbeHotInterval and MaxProbeColdInterval bound what the config may set.
	MinProbeHotInterval  = 3 * time.Second
	MaxProbeColdInterval = 30 * time.Minute
)

// ProbeEnabled reports whether a probe in mode runs for an integration with this auth
// ("delegated" or app-only) and these delegated scopes.
func ProbeEnabled(mode string, delegated bool, scopes []string) bool {
	switch mode {
	case ProbeOff:
		return false
	case ProbeOn:
		return true
	}
	if !delegated {
		return true
	}
	for _, s := range scopes {
		if strings.EqualFold(s, "Calendars.Read") || strings.EqualFold(s, "Calendars.ReadWrite") {
			return true
		}
	}
	return false
}
