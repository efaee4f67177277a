// Package ews keeps the calendars of a site's room mailboxes in the store from Exchange Server
// on premises (2016, 2019, Subscription Edition) through Exchange Web Services, with a service
// account (README "Calendar sync (Exchange on-premises, EWS)").
//
// API CONTRACT FOR ISSUE 17 (filled in by the EWS source work; the agent row and the config
// type are written against it): the names and fields below are fixed, the bodies are not.
package ews

import (
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
	// concurrent requests across rooms (default 10, as Microsoft advises per account; Exchange's default policy allows 27 per
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
	HotInterval  time.Duration // default 15 s: a meeting starts within HotLead or runs
	ColdInterval time.Duration // default 4 min
	HotLead      time.Duration // default 30 min
	Jitter       float64       // default 0.05
	Seed         uint64        // 0: random
	// Added for EWS (not in the first contract): MaxEntries is CalendarView's
	// MaxEntriesReturned (default 500; a fuller window is split); StreamDebounce is how long
	// a notification waits for its siblings before the room syncs (default 2 s; Exchange
	// sends several events per meeting change); RollSpread spreads the daily window roll
	// after midnight (default 20 min).
	MaxEntries     int
	StreamDebounce time.Duration
	RollSpread     time.Duration
	// StreamGroup is the most rooms in one subscription group (default and maximum 200,
	// Exchange's limit per GetStreamingEvents; tests make groups smaller).
	StreamGroup int
}

func (t *Tuning) defaults() {
	if t.HotInterval <= 0 {
		t.HotInterval = 15 * time.Second
	}
	if t.ColdInterval <= 0 {
		t.ColdInterval = 4 * time.Minute
	}
	if t.HotLead <= 0 {
		t.HotLead = 30 * time.Minute
	}
	if t.Jitter <= 0 {
		t.Jitter = 0.05
	}
	if t.MaxEntries <= 0 {
		t.MaxEntries = 500
	}
	if t.StreamDebounce <= 0 {
		t.StreamDebounce = 2 * time.Second
	}
	if t.RollSpread <= 0 {
		t.RollSpread = 20 * time.Minute
	}
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

var _ source.Source = (*Syncer)(nil)

// Defaults of an integration.
const (
	DefaultMaxRequestsPerDay = 1_000_000
	DefaultMaxInFlight       = 10 // Microsoft's advice: at most 10 concurrent requests per account
)
