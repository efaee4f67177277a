// Package google keeps the calendars of a site's rooms in the store from Google Workspace
// through the Google Calendar API v3, with a service account (README "Calendar sync (Google
// Workspace)").
//
// Rooms are resource calendars (c_…@resource.calendar.google.com) or the rooms' email
// aliases; each is read with events.list over the window the other sources use (start of
// yesterday to the end of today + upcoming_days), recurring events expanded into their
// occurrences (singleEvents=true). The first read of a room, the daily window roll, a 410
// fullSyncRequired and `otj-edge sync --full` list the window in full (timeMin/timeMax) and
// replace what the store holds for the room; every other poll sends only the stored
// syncToken (Google refuses timeMin/timeMax with it) and applies the changes, dropping those
// outside the window. The syncToken is the room's stored cursor, so a restart goes on where
// it was.
//
// The scheduler is the polling sources' (sync/source/poll): rooms with a meeting soon or
// running are polled often, the others rarely, within the daily request budget
// (max_requests_per_day) counted in the store. Google's rate limits (403 rateLimitExceeded /
// userRateLimitExceeded, 429) back a room off exponentially on its own, so one room's
// trouble never holds up another.
//
// The Google client is google.golang.org/api/calendar/v3 with golang.org/x/oauth2/google's
// JWT flow (client.go): the endpoint from the config (option.WithEndpoint) and an HTTP client
// that trusts ca_file and signs requests with the service account's tokens.
package google

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/source"
)

// Type is the integration type of this source (integrations[].type in the config).
const Type = "google"

// Defaults of an integration.
const (
	// DefaultMaxRequestsPerDay is Pexip's default maximum_number_of_api_requests for a Google
	// deployment (research B6): about 625 a minute, inside Google's 600 per user per minute
	// only when spread, which the scheduler does.
	DefaultMaxRequestsPerDay = 900_000
	// DefaultEndpoint is the Calendar API's base URL (the discovery document's baseUrl).
	DefaultEndpoint = "https://www.googleapis.com/calendar/v3/"
	// ScopeReadOnly is the scope the source asks for by default: reading events and watching
	// them is all it does.
	ScopeReadOnly = "https://www.googleapis.com/auth/calendar.readonly"
	// DefaultMaxInFlight bounds concurrent requests across rooms.
	DefaultMaxInFlight = 8
)

// Integration is a Google integration's settings, as the agent translates them from the
// config.
type Integration struct {
	Name string
	// ServiceAccountKey is the service account's JSON key (the file's content, never logged);
	// its token_uri is where tokens are asked for.
	ServiceAccountKey []byte
	// Subject is the user the service account acts as with domain-wide delegation (an admin,
	// or any user who can see the rooms); "" when the rooms' calendars are shared with the
	// service account itself.
	Subject string
	// Scopes default to ScopeReadOnly.
	Scopes []string
	// MaxRequestsPerDay is the daily Calendar API request budget (default 900,000).
	MaxRequestsPerDay int64
	// Endpoint is the Calendar API base URL (default DefaultEndpoint).
	Endpoint string
	// CAFile adds trusted CAs (simulators, TLS-inspecting proxies).
	CAFile string
	// NotificationsURL is the site's public HTTPS URL for push notifications (events.watch
	// channels, notify.go); "" polls only.
	NotificationsURL string
}

// Tuning adjusts the scheduler for tests and benchmarks; zero values take the defaults.
type Tuning struct {
	HotInterval  time.Duration // default 15 s: a meeting starts within HotLead or runs
	ColdInterval time.Duration // default 4 min
	HotLead      time.Duration // default 30 min
	Jitter       float64       // default 0.05
	Seed         uint64        // 0: random
	// RollSpread spreads the daily window roll after midnight (default 20 min).
	RollSpread time.Duration
	// PageSize is events.list's maxResults (default 250, Google's default; at most 2500).
	PageSize int
	// MaxInFlight bounds requests across rooms (default 8).
	MaxInFlight int
	// RateBackoff is the first wait after a rate-limit answer (default 2 s), doubling to
	// RateBackoffMax (default 2 min): Google's truncated exponential backoff.
	RateBackoff    time.Duration
	RateBackoffMax time.Duration
	// Push (notifications_url): ChannelTTL is the lifetime asked for a channel (default 7
	// days, Google's usual maximum for events), ChannelRenew how long before its expiry a
	// new one replaces it (default 24 h); SafetyHot and SafetyCold are the poll intervals of
	// a room with a live channel (default 60 s and 30 min).
	ChannelTTL   time.Duration
	ChannelRenew time.Duration
	SafetyHot    time.Duration
	SafetyCold   time.Duration
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
	if t.RollSpread <= 0 {
		t.RollSpread = 20 * time.Minute
	}
	if t.PageSize <= 0 {
		t.PageSize = 250
	}
	t.PageSize = min(t.PageSize, 2500)
	if t.MaxInFlight <= 0 {
		t.MaxInFlight = DefaultMaxInFlight
	}
	if t.RateBackoff <= 0 {
		t.RateBackoff = 2 * time.Second
	}
	if t.RateBackoffMax <= 0 {
		t.RateBackoffMax = 2 * time.Minute
	}
	if t.ChannelTTL <= 0 {
		t.ChannelTTL = 7 * 24 * time.Hour
	}
	if t.ChannelRenew <= 0 {
		t.ChannelRenew = 24 * time.Hour
	}
	if t.SafetyHot <= 0 {
		t.SafetyHot = time.Minute
	}
	if t.SafetyCold <= 0 {
		t.SafetyCold = 30 * time.Minute
	}
}

// Options are a Syncer's dependencies and configuration.
type Options struct {
	Integration Integration
	Rooms       []source.Room
	Store       *store.Store
	Logger      *slog.Logger
	Clock       clock.Clock
	Health      *health.Tracker // component source.Component(Type, name): "google/<name>"
	// HTTPClient is the transport to Google (token endpoint and API) before authorization;
	// default: one trusting the system roots and CAFile.
	HTTPClient *http.Client
	Tuning     Tuning
}

var _ source.Source = (*Syncer)(nil)
