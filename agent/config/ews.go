package config

import (
	"encoding/hex"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
)

// IntegrationEWS is the type of an Exchange Server (on premises) integration read over
// Exchange Web Services with a service account (package sync/ews).
const IntegrationEWS = "ews"

func init() {
	RegisterIntegrationType(IntegrationEWS, func() IntegrationSettings { return &EWSIntegration{} })
}

// EWS integration defaults. The request quota follows Pexip's; eight requests in flight stay
// well inside Exchange's default EWSMaxConcurrency (27 per account), which the site shares with
// every other EWS client of the service account.
const (
	DefaultEWSMaxRequestsPerDay    = 1_000_000
	DefaultEWSMaxInFlight          = 10
	DefaultEWSRequestServerVersion = "Exchange2013_SP1"
	maxEWSInFlight                 = 27 // EWSMaxConcurrency of the default throttling policy
)

// ewsServerVersions are the RequestServerVersion values Exchange 2016, 2019 and Subscription
// Edition accept (MS-OXWSCDATA stops at Exchange2016; streaming needs 2010 SP1).
var ewsServerVersions = []string{"Exchange2010_SP1", "Exchange2010_SP2", "Exchange2013", "Exchange2013_SP1", "Exchange2015", "Exchange2016"}

// ewsUsernameRE is DOMAIN\user (the down-level logon name NTLM takes).
var ewsUsernameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,14}\\[^\\@\s]{1,104}$`)

// EWSIntegration is an EWS integration's own keys (type: ews); the agent translates them into
// sync/ews.Integration (agent/sources_ews.go).
type EWSIntegration struct {
	// URL is the EWS endpoint, https://mail.example.com/EWS/Exchange.asmx; without it the URL
	// is discovered with autodiscover.
	URL string `yaml:"url"`
	// AutodiscoverURL is the autodiscover service to ask (default: derived from the domain of
	// AutodiscoverEmail); AutodiscoverEmail is the address autodiscover looks up (default: the
	// username when it is a UPN).
	AutodiscoverURL   string `yaml:"autodiscover_url"`
	AutodiscoverEmail string `yaml:"autodiscover_email"`
	// Username is the service account: DOMAIN\user or its UPN user@domain.
	Username     string `yaml:"username"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// Auth is ntlm (default) or basic (TLS only).
	Auth string `yaml:"auth"`
	// Access is impersonation (default: the ApplicationImpersonation role, scoped to the rooms)
	// or delegate (the account has Reviewer or FullAccess on each room).
	Access string `yaml:"access"`
	// CAFile trusts a private CA; PinSHA256 pins the server certificate (hex SHA-256 of the
	// DER certificate, colons allowed) instead.
	CAFile    string `yaml:"ca_file"`
	PinSHA256 string `yaml:"pin_sha256"`
	// MaxRequestsPerDay is the daily EWS request quota; MaxInFlight the concurrent requests.
	MaxRequestsPerDay int64 `yaml:"max_requests_per_day"`
	MaxInFlight       int   `yaml:"max_in_flight"`
	// Streaming subscribes to streaming notifications (default true; impersonation only).
	Streaming *bool `yaml:"streaming"`
	// RequestServerVersion is sent with every request (default Exchange2013_SP1).
	RequestServerVersion string `yaml:"request_server_version"`
}

// EWS is the integration's EWS settings; nil unless it is of type ews.
func (in Integration) EWS() *EWSIntegration {
	e, _ := in.Settings.(*EWSIntegration)
	return e
}

// StreamingOn reports whether the integration subscribes to streaming notifications (after
// Check: false for delegates, who Exchange refuses them).
func (e *EWSIntegration) StreamingOn() bool { return e.Streaming != nil && *e.Streaming }

// Check validates an EWS integration and fills its defaults.
func (e *EWSIntegration) Check(c *IntegrationCheck) {
	if e.Auth == "" {
		e.Auth = "ntlm"
	}
	switch strings.ToLower(e.Auth) {
	case "ntlm", "basic":
		e.Auth = strings.ToLower(e.Auth)
	case "negotiate", "kerberos":
		c.Errorf("auth", "auth %q is not supported: use ntlm (Exchange's default for on-premises EWS), or basic over https", e.Auth)
	default:
		c.Errorf("auth", "auth %q is not one of ntlm, basic", e.Auth)
	}
	e.URL = e.httpsURL(c, "url", e.URL)
	e.AutodiscoverURL = e.httpsURL(c, "autodiscover_url", e.AutodiscoverURL)
	e.checkUsername(c)
	c.Secret(&e.Password, e.PasswordFile, "password", true)
	if e.AutodiscoverEmail != "" {
		if a, err := mail.ParseAddress(e.AutodiscoverEmail); err != nil || a.Address != e.AutodiscoverEmail {
			c.Errorf("autodiscover_email", "autodiscover_email %q is not a mailbox address", e.AutodiscoverEmail)
		}
	}
	switch {
	case e.URL == "" && e.AutodiscoverEmail == "" && e.AutodiscoverURL == "" && !strings.Contains(e.Username, "@") && !c.Has("url"):
		c.Errorf("url", "give url (https://mail.example.com/EWS/Exchange.asmx), or autodiscover_email so autodiscover can find it (a DOMAIN\\user username has no address to look up)")
	case e.URL != "" && (e.AutodiscoverEmail != "" || e.AutodiscoverURL != ""):
		c.Warnf("url", "url is given, so autodiscover_url and autodiscover_email are not used")
	}
	if e.Access == "" {
		e.Access = "impersonation"
	}
	if e.Access != "impersonation" && e.Access != "delegate" {
		c.Errorf("access", "access %q is not one of impersonation, delegate", e.Access)
	}
	e.checkStreaming(c)
	e.CAFile = c.Path(e.CAFile)
	c.FileExists("ca_file", e.CAFile)
	if e.PinSHA256 != "" {
		fp := strings.ToLower(strings.ReplaceAll(e.PinSHA256, ":", ""))
		if b, err := hex.DecodeString(fp); err != nil || len(b) != 32 {
			c.Errorf("pin_sha256", "pin_sha256 must be the server certificate's SHA-256 in hex (64 digits, colons allowed)")
		} else {
			e.PinSHA256 = fp
		}
		if e.CAFile != "" {
			c.Errorf("pin_sha256", "give ca_file or pin_sha256, not both")
		}
	}
	if !c.Has("max_requests_per_day") {
		e.MaxRequestsPerDay = DefaultEWSMaxRequestsPerDay
	} else if e.MaxRequestsPerDay < 10_000 || e.MaxRequestsPerDay > 10_000_000 {
		c.Errorf("max_requests_per_day", "max_requests_per_day %d is outside 10000–10000000", e.MaxRequestsPerDay)
	}
	if !c.Has("max_in_flight") {
		e.MaxInFlight = DefaultEWSMaxInFlight
	} else if e.MaxInFlight < 1 || e.MaxInFlight > maxEWSInFlight {
		c.Errorf("max_in_flight", "max_in_flight %d is outside 1–%d (Exchange's default EWSMaxConcurrency is %d per account, shared with its other clients)",
			e.MaxInFlight, maxEWSInFlight, maxEWSInFlight)
	}
	e.checkServerVersion(c)
}

// httpsURL checks a URL key: https only, because NTLM's messages and Basic's password must not
// cross the network in clear (and Exchange's EWS virtual directory requires SSL by default).
func (e *EWSIntegration) httpsURL(c *IntegrationCheck, key, raw string) string {
	if raw == "" {
		if c.Has(key) {
			c.Errorf(key, "%s is empty", key)
		}
		return ""
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		c.Errorf(key, "%s %q is not an https URL such as https://mail.example.com/EWS/Exchange.asmx", key, RedactURL(raw))
	case u.User != nil:
		c.Errorf(key, "%s must not carry a user or password: use username and password", key)
	case u.Scheme == "http" && e.Auth == "basic":
		c.Errorf(key, "%s %q is http: basic auth would send the service account's password in clear; use https", key, raw)
	case u.Scheme == "http":
		c.Errorf(key, "%s %q is http: use https (Exchange serves EWS over TLS; give ca_file or pin_sha256 for a private CA)", key, raw)
	}
	return raw
}

func (e *EWSIntegration) checkUsername(c *IntegrationCheck) {
	u := strings.TrimSpace(e.Username)
	e.Username = u
	switch {
	case u == "":
		c.Errorf("username", `username is required: the service account as DOMAIN\user or user@domain (its UPN)`)
	case strings.Contains(u, "@"):
		if a, err := mail.ParseAddress(u); err != nil || a.Address != u {
			c.Errorf("username", "username %q is not a UPN such as svc-otj@example.com", u)
		}
	case !ewsUsernameRE.MatchString(u):
		c.Errorf("username", `username %q must be DOMAIN\user (the NetBIOS domain, a backslash, the account) or a UPN such as svc-otj@example.com`, u)
	}
}

// checkStreaming defaults streaming on for impersonation and off for delegates: Exchange
// refuses delegates streaming subscriptions (ErrorSubscriptionDelegateAccessNotSupported).
func (e *EWSIntegration) checkStreaming(c *IntegrationCheck) {
	on := e.Access != "delegate"
	if e.Streaming != nil && *e.Streaming && !on {
		c.Warnf("streaming", "streaming is off with access: delegate (Exchange refuses streaming subscriptions to delegates); the rooms are polled")
	}
	if e.Streaming != nil && !*e.Streaming {
		on = false
	}
	e.Streaming = &on
}

func (e *EWSIntegration) checkServerVersion(c *IntegrationCheck) {
	v := e.RequestServerVersion
	switch {
	case v == "":
		e.RequestServerVersion = DefaultEWSRequestServerVersion
	case strings.EqualFold(v, "Exchange2019"):
		c.Errorf("request_server_version", "request_server_version Exchange2019 is refused by Exchange 2019 itself (ErrorInvalidRequest: EWS's schema versions stop at Exchange2016); use Exchange2016 or leave the default %s", DefaultEWSRequestServerVersion)
	default:
		for _, ok := range ewsServerVersions {
			if strings.EqualFold(v, ok) {
				e.RequestServerVersion = ok
				return
			}
		}
		c.Errorf("request_server_version", "request_server_version %q is not one of %s", v, strings.Join(ewsServerVersions, ", "))
	}
}
