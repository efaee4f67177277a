package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/mail"
	"net/url"
	"strings"
)

// IntegrationGoogle is the type of a Google Workspace integration: room resource calendars
// read through the Calendar API with a service account (package sync/google).
const IntegrationGoogle = "google"

func init() {
	RegisterIntegrationType(IntegrationGoogle, func() IntegrationSettings { return &GoogleIntegration{} })
}

// Google integration defaults. The budget is Pexip's default for a Google deployment
// (maximum_number_of_api_requests, research B6).
const (
	DefaultGoogleMaxRequestsPerDay = 900_000
	DefaultGoogleEndpoint          = "https://www.googleapis.com/calendar/v3/"
	GoogleScopeReadOnly            = "https://www.googleapis.com/auth/calendar.readonly"
)

// googleReadOnlyScopes are the scopes that let the source list and watch events and nothing
// more (calendar-api.json events.list/watch scopes).
var googleReadOnlyScopes = []string{GoogleScopeReadOnly, "https://www.googleapis.com/auth/calendar.events.readonly"}

// GoogleIntegration is a Google integration's own keys (type: google); the agent translates
// them into sync/google.Integration (agent/sources_google.go).
type GoogleIntegration struct {
	// ServiceAccountKeyFile is the service account's JSON key, downloaded from the Cloud
	// console (IAM & Admin → Service accounts → Keys). A file only: it holds a private key.
	ServiceAccountKeyFile string `yaml:"service_account_key_file"`
	// Subject is the Workspace user the service account acts as through domain-wide
	// delegation (an admin, or any user who can see the rooms); empty when the rooms'
	// calendars are shared with the service account itself.
	Subject string `yaml:"subject"`
	// Scopes default to calendar.readonly; only read-only scopes are accepted.
	Scopes []string `yaml:"scopes"`
	// MaxRequestsPerDay is the daily Calendar API request budget; default 900,000.
	MaxRequestsPerDay int64 `yaml:"max_requests_per_day"`
	// Endpoint is the Calendar API base URL (regional endpoints, simulators); default
	// https://www.googleapis.com/calendar/v3/.
	Endpoint string `yaml:"endpoint"`
	// CAFile adds trusted CAs (simulators, TLS-inspecting proxies).
	CAFile string `yaml:"ca_file"`
	// NotificationsURL is the site's public HTTPS URL for push notifications (the key Graph
	// integrations use too): each room gets an events.watch channel to it, and the poll
	// becomes a safety net; the source only polls without it.
	NotificationsURL string `yaml:"notifications_url"`
	// NotificationsListen is where the site's reverse proxy forwards NotificationsURL (plain
	// HTTP; default 127.0.0.1:8090 when notifications_url is set: not Graph's 8089, so a site
	// with both integrations needs no setting).
	NotificationsListen string `yaml:"notifications_listen"`

	// Read by validation from ServiceAccountKeyFile.
	ServiceAccountKey   Secret `yaml:"-" json:"-"`
	ServiceAccountEmail string `yaml:"-"`
	ClientID            string `yaml:"-"` // the numeric client ID delegation is granted to
	TokenURI            string `yaml:"-"`
	KeyFingerprint      string `yaml:"-"` // SHA-256 of the key file: a new key restarts the source
}

// Google is the integration's Google settings; nil unless it is of type google.
func (in Integration) Google() *GoogleIntegration {
	g, _ := in.Settings.(*GoogleIntegration)
	return g
}

// Check validates a Google integration, reads its key file and fills the defaults.
func (g *GoogleIntegration) Check(c *IntegrationCheck) {
	g.checkKey(c)
	if s := strings.TrimSpace(g.Subject); s != "" {
		if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
			c.Errorf("subject", "subject %q is not a user's address such as admin@example.com", s)
		}
		g.Subject = s
	}
	if len(g.Scopes) == 0 {
		g.Scopes = []string{GoogleScopeReadOnly}
	}
	for _, s := range g.Scopes {
		ok := false
		for _, r := range googleReadOnlyScopes {
			ok = ok || s == r
		}
		if !ok {
			c.Errorf("scopes", "scope %q is not one the source needs: it only reads events (%s)", s, strings.Join(googleReadOnlyScopes, " or "))
		}
	}
	if !c.Has("max_requests_per_day") {
		g.MaxRequestsPerDay = DefaultGoogleMaxRequestsPerDay
	} else if g.MaxRequestsPerDay < 10_000 || g.MaxRequestsPerDay > 10_000_000 {
		c.Errorf("max_requests_per_day", "max_requests_per_day %d is outside 10000–10000000", g.MaxRequestsPerDay)
	}
	g.Endpoint = googleURL(c, "endpoint", g.Endpoint, true)
	if g.Endpoint == "" {
		g.Endpoint = DefaultGoogleEndpoint
	}
	if g.NotificationsURL != "" {
		if u := googleURL(c, "notifications_url", g.NotificationsURL, false); u != "" && !strings.HasPrefix(u, "https://") {
			c.Errorf("notifications_url", "notifications_url must be https:// with a publicly trusted certificate (Google refuses other webhook addresses)")
		}
		if g.NotificationsListen == "" {
			g.NotificationsListen = DefaultGoogleNotificationsListen
		} else if _, port, err := net.SplitHostPort(g.NotificationsListen); err != nil || port == "" || port == "0" {
			c.Errorf("notifications_listen", "notifications_listen %q is not host:port (e.g. %s)", g.NotificationsListen, DefaultGoogleNotificationsListen)
		}
	} else if g.NotificationsListen != "" {
		c.Errorf("notifications_listen", "notifications_listen needs notifications_url (the public HTTPS URL the reverse proxy forwards to it)")
	}
	g.CAFile = c.Path(g.CAFile)
	c.FileExists("ca_file", g.CAFile)
}

// DefaultGoogleNotificationsListen is the push listener's address when notifications_url is
// set and notifications_listen is not.
const DefaultGoogleNotificationsListen = "127.0.0.1:8090"

// checkKey reads the key file (mode checked like every file that holds a private key) and
// the fields the source and its messages use.
func (g *GoogleIntegration) checkKey(c *IntegrationCheck) {
	const key = "service_account_key_file"
	if g.ServiceAccountKeyFile == "" {
		c.Errorf(key, "service_account_key_file is required: the service account's JSON key (Cloud console → IAM & Admin → Service accounts → Keys → Add key → JSON)")
		return
	}
	path := c.Path(g.ServiceAccountKeyFile)
	g.ServiceAccountKeyFile = path
	if c.SkipSecrets() {
		return
	}
	data, ok := c.ReadKeyFile(key, path)
	if !ok {
		return
	}
	var f struct {
		Type       string `json:"type"`
		Email      string `json:"client_email"`
		ClientID   string `json:"client_id"`
		PrivateKey string `json:"private_key"`
		TokenURI   string `json:"token_uri"`
	}
	switch err := json.Unmarshal(data, &f); {
	case err != nil:
		c.Errorf(key, "service_account_key_file %s is not JSON: download the key as JSON (not P12)", path)
		return
	case f.Type != "service_account":
		c.Errorf(key, "service_account_key_file %s is of type %q, not a service account key (\"type\": \"service_account\")", path, f.Type)
		return
	case f.Email == "" || f.PrivateKey == "":
		c.Errorf(key, "service_account_key_file %s lacks client_email or private_key", path)
		return
	}
	if f.TokenURI != "" {
		if u, err := url.Parse(f.TokenURI); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			c.Errorf(key, "service_account_key_file %s: token_uri %q is not a URL", path, f.TokenURI)
		}
	}
	sum := sha256.Sum256(data)
	g.ServiceAccountKey = NewSecret(string(data))
	g.ServiceAccountEmail, g.ClientID, g.TokenURI = f.Email, f.ClientID, f.TokenURI
	if g.TokenURI == "" {
		g.TokenURI = "https://oauth2.googleapis.com/token"
	}
	g.KeyFingerprint = hex.EncodeToString(sum[:])
}

// googleURL checks a URL key; base gives it the form the Calendar client joins paths to
// (a trailing slash, Google's service path on a bare host).
func googleURL(c *IntegrationCheck, key, raw string, base bool) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		if c.Has(key) {
			c.Errorf(key, "%s is empty", key)
		}
		return ""
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		c.Errorf(key, "%s %q is not a URL such as %s", key, RedactURL(raw), DefaultGoogleEndpoint)
		return ""
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		c.Errorf(key, "%s %q must be a plain URL (no user, query or fragment)", key, RedactURL(raw))
		return ""
	}
	if base {
		if u.Path == "" || u.Path == "/" {
			u.Path = "/calendar/v3/"
		}
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
	}
	return u.String()
}
