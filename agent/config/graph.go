package config

import (
	"crypto"
	"crypto/x509"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/sync/graph/graphconf"
)

// IntegrationGraph is the type of a Microsoft Graph integration (app-only credentials).
const IntegrationGraph = "graph"

func init() {
	RegisterIntegrationType(IntegrationGraph, func() IntegrationSettings { return &Graph{} })
}

// Graph is a Microsoft Graph integration's own keys (type: graph). The token URL, Graph URL
// and client certificate are parsed with the Graph source's own parser (graphconf), so a value
// the source cannot use fails here, with its line, instead of at the first token request.
type Graph struct {
	// ClientID is the app registration's Application (client) ID.
	ClientID string `yaml:"client_id"`
	// ClientSecret is the client secret *value* (not its ID).
	ClientSecret     Secret `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// ClientCertificateFile authenticates with a certificate instead of a secret: a PEM file
	// holding the certificate and its RSA private key, or a PKCS#12 (.pfx) file, whose
	// certificate is uploaded to the app registration.
	ClientCertificateFile string `yaml:"client_certificate_file"`
	// ClientCertificatePassword decrypts a password-protected .pfx.
	ClientCertificatePassword     Secret `yaml:"client_certificate_password"`
	ClientCertificatePasswordFile string `yaml:"client_certificate_password_file"`
	// TokenURL is the OAuth 2.0 token endpoint (v2); tenant and authority are derived from it.
	TokenURL string `yaml:"token_url"`
	// GraphURL is the Graph root (national clouds); default https://graph.microsoft.com/v1.0.
	GraphURL string `yaml:"graph_url"`
	// MaxRequestsPerDay is the Graph request budget per 24 h; default 1,000,000.
	MaxRequestsPerDay int `yaml:"max_requests_per_day"`
	// MaxInFlight caps concurrent Graph requests across all rooms (never more than 4 per
	// mailbox); default 8.
	MaxInFlight int `yaml:"max_in_flight"`
	// CAFile adds trusted CAs (tests and simulators; never needed for Microsoft 365).
	CAFile string `yaml:"ca_file"`
	// NotificationsURL is the public HTTPS URL Graph posts change notifications to; the
	// site's reverse proxy forwards it to NotificationsListen (graph_notify.go). Unset: polling
	// only.
	NotificationsURL    string `yaml:"notifications_url"`
	NotificationsListen string `yaml:"notifications_listen"`
	// Auth is "app-only" (default: the app's own permission) or "delegated": a service
	// account with access to the room calendars signs in once (otj-edge auth login); no
	// secret makes a public client, a secret a confidential one.
	Auth string `yaml:"auth"`
	// Scopes are the delegated permissions asked for; default Calendars.Read.Shared
	// offline_access (add Place.Read.All for room discovery).
	Scopes []string `yaml:"scopes"`
	// Probe is the change probe (calendar getSchedule, outbound only): mode auto|on|off and
	// its intervals (graph_probe.go).
	Probe GraphProbe `yaml:"probe"`
	// StateDir is the state directory, where a delegated integration's token vault lives
	// (set by validation).
	StateDir string `yaml:"-" json:"-"`

	// Derived by validation from TokenURL and GraphURL.
	Tenant        string `yaml:"-"`
	AuthorityHost string `yaml:"-"` // e.g. https://login.microsoftonline.com/
	// Read by validation from ClientCertificateFile: the certificate (chain) and its key.
	ClientCertificates []*x509.Certificate `yaml:"-" json:"-"`
	ClientKey          crypto.PrivateKey   `yaml:"-" json:"-"`
}

// UsesCertificate reports whether the integration authenticates with a certificate.
func (g *Graph) UsesCertificate() bool { return g.ClientCertificateFile != "" }

// CertificateThumbprint is the client certificate's SHA-1 thumbprint in upper-case hex, as the
// app registration's Certificates & secrets page shows it; "" without a certificate.
func (g *Graph) CertificateThumbprint() string {
	if len(g.ClientCertificates) == 0 {
		return ""
	}
	return graphconf.Thumbprint(g.ClientCertificates[0])
}

// Integration defaults (package graphconf's, where the Graph source reads them too).
const (
	DefaultGraphURL          = graphconf.DefaultGraphURL
	DefaultMaxRequestsPerDay = graphconf.DefaultMaxRequestsPerDay
	DefaultMaxInFlight       = graphconf.DefaultMaxInFlight
)

// CertificateWarnAhead is how long before a client certificate expires check and the running
// agent's health warn: an unattended site otherwise finds out when every room stops syncing.
const CertificateWarnAhead = graphconf.CertificateWarnAhead

// Check validates a Graph integration and fills its defaults and derived values.
func (g *Graph) Check(c *IntegrationCheck) {
	if strings.TrimSpace(g.ClientID) == "" {
		c.Errorf("client_id", "client_id is required (the app registration's Application (client) ID)")
	}
	delegated, known := g.checkAuth(c)
	switch {
	case !known: // which credential is needed depends on the mode
	case delegated && g.UsesCertificate():
		c.Errorf("client_certificate_file", "auth: delegated takes no client_certificate_file (give client_secret for a confidential client, or nothing for a public one)")
	case delegated:
		g.StateDir = c.l.stateDir
		if g.ClientSecret.Value() != "" || g.ClientSecretFile != "" {
			c.Secret(&g.ClientSecret, g.ClientSecretFile, "client_secret", false)
		}
	case g.UsesCertificate() && (g.ClientSecret.Value() != "" || g.ClientSecretFile != ""):
		c.Errorf("client_certificate_file", "give client_secret or client_certificate_file, not both")
	case g.UsesCertificate():
		g.clientCertificate(c)
	default:
		if g.ClientCertificatePassword.Value() != "" || g.ClientCertificatePasswordFile != "" {
			c.Errorf("client_certificate_password", "client_certificate_password needs client_certificate_file")
		}
		if g.ClientSecret.Value() == "" && g.ClientSecretFile == "" {
			c.Errorf("client_secret", "client_secret (or client_secret_file, or client_certificate_file) is required")
		} else {
			c.Secret(&g.ClientSecret, g.ClientSecretFile, "client_secret", true)
		}
	}
	if g.TokenURL == "" {
		c.Errorf("token_url", "token_url is required (the OAuth 2.0 token endpoint (v2) on the app registration's Endpoints page)")
	} else if tenant, host, err := graphconf.ParseTokenURL(g.TokenURL); err != nil {
		c.Errorf("token_url", "%s", err)
	} else {
		g.Tenant, g.AuthorityHost = tenant, host
	}
	if g.GraphURL == "" {
		g.GraphURL = DefaultGraphURL
	} else if u, err := graphconf.NormalizeGraphURL(g.GraphURL); err != nil {
		c.Errorf("graph_url", "graph_url: %s", err)
	} else {
		g.GraphURL = u
	}
	if !c.Has("max_requests_per_day") {
		g.MaxRequestsPerDay = DefaultMaxRequestsPerDay
	} else if g.MaxRequestsPerDay < 10_000 || g.MaxRequestsPerDay > 10_000_000 {
		c.Errorf("max_requests_per_day", "max_requests_per_day %d is outside 10000–10000000", g.MaxRequestsPerDay)
	}
	if !c.Has("max_in_flight") {
		g.MaxInFlight = DefaultMaxInFlight
	} else if g.MaxInFlight < 1 || g.MaxInFlight > 64 {
		c.Errorf("max_in_flight", "max_in_flight %d is outside 1–64", g.MaxInFlight)
	}
	g.CAFile = c.Path(g.CAFile)
	c.FileExists("ca_file", g.CAFile)
	g.checkNotifications(c) // graph_notify.go
	g.checkProbe(c)         // graph_probe.go
}

// Auth modes (graph.AuthAppOnly and graph.AuthDelegated).
const (
	GraphAuthAppOnly   = "app-only"
	GraphAuthDelegated = "delegated"
)

// Delegated reports whether the integration reads through a signed-in account.
func (g *Graph) Delegated() bool { return g.Auth == GraphAuthDelegated }

// checkAuth validates auth and scopes; it reports whether the integration is delegated, and
// whether the mode is known.
func (g *Graph) checkAuth(c *IntegrationCheck) (delegated, known bool) {
	switch g.Auth {
	case "", GraphAuthAppOnly:
		g.Auth = GraphAuthAppOnly
		if c.Has("scopes") {
			c.Errorf("scopes", "scopes are for auth: delegated (app-only tokens carry the app's own permissions)")
		}
		return false, true
	case GraphAuthDelegated:
	default:
		c.Errorf("auth", "auth %q is not app-only or delegated", g.Auth)
		return false, false
	}
	seen := map[string]bool{}
	for _, s := range g.Scopes {
		s = strings.TrimSpace(s)
		switch {
		case s == "" || strings.ContainsAny(s, " \t"):
			c.Errorf("scopes", "scopes: %q is not a permission name (e.g. Calendars.Read.Shared)", s)
		case strings.HasSuffix(s, "/.default") || s == ".default":
			c.Errorf("scopes", "scopes: %s is for app-only tokens; name the delegated permissions (Calendars.Read.Shared)", s)
		}
		seen[s] = true
	}
	if len(g.Scopes) > 0 && !seen["Calendars.Read.Shared"] && !seen["Calendars.Read"] && !seen["Calendars.ReadWrite.Shared"] {
		c.Warnf("scopes", "scopes do not include Calendars.Read.Shared: the account may not be able to read the room calendars shared with it")
	}
	return true, true
}

// clientCertificate reads client_certificate_file with the Graph source's own parser
// (graphconf: PEM with the key, or PKCS#12), and warns when the certificate has expired or
// expires within CertificateWarnAhead.
func (g *Graph) clientCertificate(c *IntegrationCheck) {
	c.Secret(&g.ClientCertificatePassword, g.ClientCertificatePasswordFile, "client_certificate_password", false)
	const key = "client_certificate_file"
	path := c.Path(g.ClientCertificateFile)
	g.ClientCertificateFile = path
	if c.SkipSecrets() {
		return // it holds the private key
	}
	data, ok := c.ReadKeyFile(key, path)
	if !ok {
		return
	}
	certs, privateKey, err := graphconf.ParseClientCertificate(data, g.ClientCertificatePassword.Value())
	if err != nil {
		c.Errorf(key, "client_certificate_file %s: %s", path, err)
		return
	}
	leaf := certs[0]
	now := c.Now()
	switch {
	case now.After(leaf.NotAfter):
		c.Warnf(key, "client_certificate_file %s: the certificate (%s) expired on %s; Entra will refuse it: create a new one and upload it to the app registration",
			path, leaf.Subject, leaf.NotAfter.UTC().Format(time.DateOnly))
	case leaf.NotAfter.Sub(now) < CertificateWarnAhead:
		c.Warnf(key, "client_certificate_file %s: the certificate (%s) expires on %s; upload its successor to the app registration before then",
			path, leaf.Subject, leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	g.ClientCertificates, g.ClientKey = certs, privateKey
}
