package web

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/device"
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
	// SourceStats reports each calendar source's request budget use, sorted by name.
	SourceStats() []SourceStats
	// MQTT reports the telemetry link.
	MQTT() MQTTState
	// RulesTest runs a profile's meeting processing rules over one event and says what the
	// room would show. profile is a configured profile's name (the page checks it).
	RulesTest(ctx context.Context, profile string, ev calendar.Event) (RulesResult, error)
	// Sync asks for a calendar sync of one room, or of every room when room is "", a full
	// resync when full is set. It returns once the sync is queued, not when it is done: the
	// CLI follows progress through each room's last_attempt.
	Sync(ctx context.Context, room string, full bool) error
	// Push pushes bookings now to one endpoint, or to every endpoint that takes pushes when endpoint is
	// "", and returns when each push is done or has failed, with what happened to each.
	Push(ctx context.Context, endpoint string) ([]EndpointResult, error)
	// Retry makes one connection attempt to a Cisco endpoint now, even while it waits out the
	// minutes after a refused password (codecs lock an account after 5 failed logins, so
	// never more than one), pushes when it connects, and says how it went.
	Retry(ctx context.Context, endpoint string) (EndpointResult, error)
	// Pulled says why the named endpoint takes no push or retry ("" when it takes them): its
	// type's endpoints fetch their calendar from otj-edge themselves (the agent's endpoint-type
	// table decides). The API answers 400 then.
	Pulled(endpoint string) string
	// Reload re-reads the config file and swaps it in; on error the running config stays and
	// the error says what is wrong (FILE:LINE: message lines).
	Reload(ctx context.Context) error
}

// ErrNotFound is what Agent methods wrap when the named room, endpoint or profile does not
// exist; the API answers 404.
var ErrNotFound = errors.New("not found")

// SourceStats is one calendar source's use of its daily request budget. Type says which kind
// of source it is, so a site with sources of several types shows each under its own.
type SourceStats struct {
	// Type is the source's type, integrations[].type: "graph".
	Type string `json:"type"`
	// Name is the integration's name, integrations[].name.
	Name string `json:"name"`
	// RequestsToday is how many requests the current budget day has used.
	RequestsToday int64 `json:"requests_today"`
	// Budget is max_requests_per_day.
	Budget int64 `json:"budget"`
	// Projected24h is the requests the whole day will use at the current pace.
	Projected24h int64 `json:"projected_24h"`
	// Notifications are the source's change notifications (Graph with notifications_url);
	// absent for a source that only polls.
	Notifications *SourceNotifications `json:"notifications,omitempty"`
	// Probe is the source's change probe (Graph's getSchedule); absent when it is off.
	Probe *SourceProbe `json:"probe,omitempty"`
}

// SourceProbe is how a source's change probe is doing: rooms it covers and watches, those
// whose free/busy shows subjects, what it sent and found, and its last error (never a secret).
type SourceProbe struct {
	Enabled        bool   `json:"enabled"`
	Rooms          int    `json:"rooms"`
	Live           int    `json:"live"`
	DetailsVisible int    `json:"details_visible"`
	Unavailable    int    `json:"unavailable"`
	Requests       int64  `json:"requests"`
	Changes        int64  `json:"changes"`
	Failures       int64  `json:"failures"`
	LastError      string `json:"last_error,omitempty"`
}

// SourceNotifications is how a source's change notifications are doing: rooms subscribed of
// those that should be, what came in, and the subscription calls that failed.
type SourceNotifications struct {
	Rooms     int    `json:"rooms"`
	Live      int    `json:"live"`
	Received  int64  `json:"received"`
	Ignored   int64  `json:"ignored"`
	Lifecycle int64  `json:"lifecycle"`
	Failures  int64  `json:"failures"`
	LastError string `json:"last_error,omitempty"`
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

// Push outcomes (EndpointResult.Outcome): the drivers' own (package device).
const (
	PushPushed    = device.OutcomePushed    // the endpoint took the room's bookings, a changed list
	PushUnchanged = device.OutcomeUnchanged // it took them: the same list as last time
	PushWaiting   = device.OutcomeWaiting   // nothing sent: the room has not synced yet, the endpoint keeps its bookings
	PushFailed    = device.OutcomeFailed    // not pushed; Detail says why
	PushPending   = device.OutcomePending   // not finished when the agent stopped waiting
)

// EndpointResult is what a push or a retry did to one endpoint, as the API shows it: a driver's
// device.Result, with the sentences the page and the CLI print.
type EndpointResult device.Result

// OK reports whether the push did what it should: pushed, or rightly held back.
func (r EndpointResult) OK() bool {
	return r.Outcome == PushPushed || r.Outcome == PushUnchanged || r.Outcome == PushWaiting
}

// Sentence says what a push did, e.g. "3 bookings pushed".
func (r EndpointResult) Sentence() string {
	switch r.Outcome {
	case PushPushed:
		return fmt.Sprintf("%d bookings pushed", r.Bookings)
	case PushUnchanged:
		return fmt.Sprintf("%d bookings pushed (no change since the last push)", r.Bookings)
	case PushWaiting:
		return "nothing pushed, " + r.Detail
	case PushPending:
		return "not finished: " + r.Detail
	}
	return "failed: " + r.Detail
}

// RetrySentence says what a retry did, at loc.
func (r EndpointResult) RetrySentence(loc *time.Location) string {
	switch {
	case r.Connected && r.Attempts == 0:
		return "already connected, no login needed; " + r.Sentence()
	case r.Connected:
		return "connected; " + r.Sentence()
	case r.Outcome == PushPending:
		return r.Sentence()
	}
	s := "still not connected: " + r.Detail
	if r.Attempts == 0 {
		s = "no attempt made: " + r.Detail
	}
	if !r.NextAttempt.IsZero() {
		s += "; the agent tries again by itself at " + r.NextAttempt.In(loc).Format("15:04:05")
	}
	return s
}

// Summary counts push results in words: "3 pushed, 1 waiting for its room's first sync, 1 failed".
func Summary(rs []EndpointResult) string {
	n := map[string]int{}
	for _, r := range rs {
		n[r.Outcome]++
	}
	var parts []string
	add := func(k, text string) {
		if n[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[k], text))
		}
	}
	add(PushPushed, "pushed")
	add(PushUnchanged, "pushed unchanged")
	add(PushWaiting, "waiting for their room's first sync")
	add(PushFailed, "failed")
	add(PushPending, "not finished")
	if len(parts) == 0 {
		return "no Cisco endpoints"
	}
	return strings.Join(parts, ", ")
}
