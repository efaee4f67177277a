package graph

import (
	"crypto"
	"crypto/x509"
	"time"

	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/agent/tokenvault"
	"github.com/otj-edge/otj-edge/sync/graph/graphconf"
)

// Integration is one Graph integration's settings. The agent translates them from the config
// (where token_url was parsed and client_certificate_file read, with graphconf); this package
// knows nothing of the config file.
type Integration struct {
	Name string
	// ClientID is the app registration's Application (client) ID; ClientSecret its client
	// secret value, unset when the app authenticates with a certificate.
	ClientID     string
	ClientSecret secret.Secret
	// ClientCertificateFile names the certificate file (for messages); ClientCertificates (leaf
	// first) and ClientKey are what it holds (graphconf.ParseClientCertificate).
	ClientCertificateFile string
	ClientCertificates    []*x509.Certificate `json:"-"`
	ClientKey             crypto.PrivateKey   `json:"-"`
	// TokenURL is the Entra v2 token endpoint. Tenant and AuthorityHost are derived from it
	// (graphconf.ParseTokenURL) when empty.
	TokenURL      string
	Tenant        string
	AuthorityHost string // e.g. https://login.microsoftonline.com/
	// GraphURL is the Graph root; default graphconf.DefaultGraphURL.
	GraphURL string
	// MaxRequestsPerDay is the request budget per 24 h and MaxInFlight the cap on concurrent
	// requests (never more than 4 per mailbox); zero takes graphconf's defaults.
	MaxRequestsPerDay int
	MaxInFlight       int
	// CAFile adds trusted CAs (tests and simulators; never needed for Microsoft 365).
	CAFile string
	// NotificationURL is the public HTTPS URL Graph posts change notifications to (the site's
	// reverse proxy forwards it to HandleNotification); "" = polling only (notify.go).
	NotificationURL string
	// Auth is AuthAppOnly ("" too) or AuthDelegated: a service account signed in with the
	// device-code flow (otj-edge auth login), its refresh token in Tokens (delegated.go).
	Auth string
	// Scopes are the delegated permissions asked for; default DefaultDelegatedScopes.
	Scopes []string
	// Tokens holds the signed-in account's refresh token, sealed (delegated only).
	Tokens *tokenvault.Vault `json:"-"`
	// NotificationListen is where the agent's listener takes them (notifications_listen); only
	// `otj-edge check` uses it, to answer the validation itself when the agent is not running.
	NotificationListen string
	// Probe is the change probe's mode (graphconf.ProbeAuto, "" too, ProbeOn or ProbeOff) and
	// intervals (zero: graphconf's defaults); probe.go.
	Probe ProbeSettings
}

// ProbeSettings are the change probe's keys (probe: in the config).
type ProbeSettings struct {
	Mode         string
	HotInterval  time.Duration
	ColdInterval time.Duration
}

// UsesCertificate reports whether the integration authenticates with a certificate.
func (in Integration) UsesCertificate() bool {
	return in.ClientCertificateFile != "" || len(in.ClientCertificates) > 0
}

// CertificateThumbprint is the client certificate's SHA-1 thumbprint as the app registration
// shows it; "" without a certificate.
func (in Integration) CertificateThumbprint() string {
	if len(in.ClientCertificates) == 0 {
		return ""
	}
	return graphconf.Thumbprint(in.ClientCertificates[0])
}

// Defaults and limits of a Graph integration (graphconf's, where the config loader reads them
// too).
const (
	DefaultMaxRequestsPerDay = graphconf.DefaultMaxRequestsPerDay
	DefaultMaxInFlight       = graphconf.DefaultMaxInFlight
	CertificateWarnAhead     = graphconf.CertificateWarnAhead
)
