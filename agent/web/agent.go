package web

import (
	"context"
	"errors"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// Agent is what only the running agent knows or can do; the agent implements it. The store
// and the health tracker hold everything else the page shows.
type Agent interface {
	// Config is the running configuration (it changes on reload).
	Config() *config.Config
	// Started is when the agent started.
	Started() time.Time
	// Version is the agent's version string.
	Version() string
	// GraphStats reports each calendar integration's request budget use.
	GraphStats() []IntegrationStats
	// MQTT reports the telemetry link.
	MQTT() MQTTState
	// RulesTest runs a profile's meeting processing rules over one event and says what the
	// room would show. profile is a configured profile's name (the page checks it).
	RulesTest(ctx context.Context, profile string, ev calendar.Event) (RulesResult, error)
	// Sync asks for a calendar sync of one room, or of every room when room is "", a full
	// resync when full is set. It returns once the sync is queued, not when it is done: the
	// CLI follows progress through each room's last_attempt.
	Sync(ctx context.Context, room string, full bool) error
	// Push pushes bookings now to one endpoint, or to every Cisco endpoint when endpoint is
	// "", and returns when the push is done or has failed.
	Push(ctx context.Context, endpoint string) error
	// Reload re-reads the config file and swaps it in; on error the running config stays and
	// the error says what is wrong (FILE:LINE: message lines).
	Reload(ctx context.Context) error
}

// ErrNotFound is what Agent methods wrap when the named room, endpoint or profile does not
// exist; the API answers 404.
var ErrNotFound = errors.New("not found")

// IntegrationStats is one calendar integration's use of its daily Graph request budget.
type IntegrationStats struct {
	Name string `json:"name"`
	// RequestsToday is how many requests the current budget day has used.
	RequestsToday int64 `json:"requests_today"`
	// Budget is max_requests_per_day.
	Budget int64 `json:"budget"`
	// Projected24h is the requests the whole day will use at the current pace.
	Projected24h int64 `json:"projected_24h"`
}

// MQTTState is the telemetry link as the page shows it.
type MQTTState struct {
	Enabled   bool `json:"enabled"`
	Connected bool `json:"connected"`
	// Broker is the broker URL; any user:password in it is removed before it is shown.
	Broker string `json:"broker,omitempty"`
	// Since is when the link last connected or dropped.
	Since time.Time `json:"since,omitzero"`
	// LastError is why the last connection attempt failed (never a credential).
	LastError string `json:"last_error,omitempty"`
}

// RulesResult is what the rules make of one invite: the keys `otj-edge rules test` prints,
// plus whether the profile hides the meeting altogether.
type RulesResult struct {
	Rule     string `json:"rule"`
	Platform string `json:"platform"`
	Protocol string `json:"protocol"`
	Number   string `json:"number"`
	Join     bool   `json:"join"`
	Subject  string `json:"subject"`
	Reason   string `json:"reason"`
	// Hidden is set when the profile does not show this meeting at all (a private meeting
	// with private_meetings: ignore, a non-video one with non_video_meetings: hide, a
	// cancelled one); Reason says which.
	Hidden bool `json:"hidden,omitempty"`
}
