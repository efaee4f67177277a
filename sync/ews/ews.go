// Package ews keeps the calendars of a site's room mailboxes in the store from Exchange Server
// on premises (2016, 2019, Subscription Edition) through Exchange Web Services, with a service
// account (README "Calendar sync (Exchange on-premises, EWS)").
//
// API CONTRACT FOR ISSUE 17 (filled in by the EWS source work; the agent row and the config
// type are written against it): the names and fields below are fixed, the bodies are not.
package ews

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/source"
)

// Type is the integration type of this source (integrations[].type in the config).
const Type = "ews"

// Auth methods.
const (
	AuthNTLM  = "ntlm"  // default
	AuthBasic = "basic" // only over TLS
)

// Access models.
const (
	AccessImpersonation = "impersonation" // default: ExchangeImpersonation header + X-AnchorMailbox
	AccessDelegate      = "delegate"      // the account has folder permissions on each room
)

// Integration is an EWS integration's settings, as the agent translates them from the config.
type Integration struct {
	Name string
	// URL is the EWS endpoint (https://mail.example.com/EWS/Exchange.asmx); "" discovers it with
	// autodiscover for AutodiscoverEmail (or Username when that is an address).
	URL               string
	AutodiscoverURL   string // optional: the autodiscover service to ask (else derived from the domain)
	AutodiscoverEmail string
	Username          string // DOMAIN\user or user@domain
	Password          secret.Secret
	Auth              string // AuthNTLM (default) or AuthBasic
	Access            string // AccessImpersonation (default) or AccessDelegate
	// CAFile trusts a private CA; PinSHA256 pins the server certificate (hex SHA-256 of the
	// DER certificate, colons allowed) instead of a CA.
	CAFile    string
	PinSHA256 string
	// MaxRequestsPerDay is the daily EWS request quota (default 1,000,000); MaxInFlight the
	// concurrent requests across rooms (default 8; Exchange's default policy allows 27 per
	// account for EWS, fewer is kinder to a shared server).
	MaxRequestsPerDay int64
	MaxInFlight       int
	// Streaming subscribes to streaming notifications (impersonation only); default true.
	Streaming bool
	// RequestServerVersion is sent in every request (default Exchange2013_SP1; never Exchange2019).
	RequestServerVersion string
}

// Tuning adjusts the scheduler for tests and benchmarks; zero values take the defaults.
type Tuning struct {
	HotInterval  time.Duration
	ColdInterval time.Duration
	HotLead      time.Duration
	Jitter       float64
	Seed         uint64
}

// Options are a Syncer's dependencies and configuration.
type Options struct {
	Integration Integration
	Rooms       []source.Room
	Store       *store.Store
	Logger      *slog.Logger
	Clock       clock.Clock
	Health      *health.Tracker // component source.Component(Type, name): "ews/<name>"
	// HTTPClient is the transport to Exchange; default: built from Auth, CAFile and PinSHA256.
	HTTPClient *http.Client
	Tuning     Tuning
}

// Syncer syncs the rooms of one EWS integration.
type Syncer struct{}

var _ source.Source = (*Syncer)(nil)

var errNotBuilt = errors.New("ews: not built yet")

// New makes a Syncer; it reads nothing from the network.
func New(opts Options) (*Syncer, error) { return nil, errNotBuilt }

// Run syncs until ctx ends.
func (s *Syncer) Run(ctx context.Context) error { return errNotBuilt }

// SyncNow queues a sync of room ("" = all).
func (s *Syncer) SyncNow(room string, full bool) error { return errNotBuilt }

// Stats reports the source's accounting and its rooms' statuses.
func (s *Syncer) Stats() source.Stats { return source.Stats{} }

// Check is the integration's part of `otj-edge check`: autodiscover (when used), sign-in,
// server version, and each room read once.
func Check(ctx context.Context, in Integration, mailboxes []string, httpClient *http.Client) source.CheckResult {
	return source.CheckResult{Lines: []string{source.Component(Type, in.Name) + ": FAILED: not built yet"}, Failed: 1}
}
