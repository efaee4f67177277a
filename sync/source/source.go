// Package source is the seam between the agent and the calendar sources: Microsoft Graph
// today; Exchange Server over EWS, Graph with a signed-in account and Google Workspace next.
//
// A source keeps the calendars of its rooms in the store, as raw events in the neutral model of
// sync/calendar, and gives each room a status in the shared words below. Everything above it
// (the meeting processor, the endpoint drivers, the status page, the CLI, MQTT) reads the store
// and never knows which source a room uses, except to show the source's type. The agent holds
// a table of source types (agent/sources.go): each row builds a Source from its integration's
// config and checks it for `otj-edge check`; adding a source is one package and one row.
//
// This package imports no source: sources depend on it, not the other way round.
package source

import (
	"context"
	"log/slog"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
)

// Source is one configured calendar integration syncing its rooms into the store.
type Source interface {
	// Run syncs until ctx ends. It needs no network to start: rooms keep what the store holds,
	// and failures are reported per room (Status*) and in health (Component), never returned;
	// an error means the source cannot run at all (its store failed).
	Run(ctx context.Context) error
	// SyncNow makes room ("" = every room of the source) sync at once: in full when full is set
	// (the stored cursor is dropped and the window read again), else incrementally. A room
	// waiting out the service's Retry-After (throttling) syncs when it has run out, never
	// before; a room waiting out a failure tries again now. It returns once the sync is queued,
	// and an error when the room is not one of this source's.
	SyncNow(room string, full bool) error
	// Stats reports the source's request accounting and its rooms' statuses.
	Stats() Stats
}

// Room is a room mailbox a source syncs, and how far ahead (its profile's upcoming_days).
type Room struct {
	Mailbox      string
	UpcomingDays int
}

// Deps are what the agent hands every source besides its own settings.
type Deps struct {
	Store  *store.Store
	Logger *slog.Logger
	Clock  clock.Clock
	// Health takes the source's line under Component(type, integration name).
	Health *health.Tracker
}

// Component is the health component of an integration: "<type>/<name>", e.g. "graph/m365".
// The agent fails it when the source cannot be built, and drops it when the integration is
// removed; the source keeps it up to date while it runs.
func Component(typ, name string) string { return typ + "/" + name }

// The status words a source gives each room (store.RoomState.Status). The status page, the
// doctor, the CLI and MQTT show them and group rooms by them, whatever the source, so a
// source maps its service's errors onto these and says the rest in the status detail (one
// line that says what to do, never a secret).
const (
	// StatusPending: the room has not completed a sync yet.
	StatusPending = store.RoomPending
	// StatusOK: the last sync succeeded.
	StatusOK = store.RoomOK
	// StatusThrottled: the service asked to wait (Retry-After, ErrorServerBusy, 429); the
	// source waits as long as asked.
	StatusThrottled = store.RoomThrottled
	// StatusPolicyDenied: the source signs in but may not read this room (an access policy,
	// an RBAC scope, a missing delegate permission); the detail names the fix.
	StatusPolicyDenied = store.RoomPolicyDenied
	// StatusNotFound: the service has no such mailbox or calendar.
	StatusNotFound = store.RoomNotFound
	// StatusNotRESTEnabled: the mailbox exists but this service cannot read it (Graph: an
	// on-premises or unlicensed mailbox).
	StatusNotRESTEnabled = store.RoomNotRESTEnabled
	// StatusAuthFailed: signing in failed, or the account may not read calendars at all.
	StatusAuthFailed = store.RoomAuthFailed
	// StatusTransient: a network or service error that retrying should cure.
	StatusTransient = store.RoomTransient
)

// Stats is what a source reports about itself (status page, MQTT metrics, bench).
type Stats struct {
	Integration string `json:"integration"`
	// Type is the source's type, as integrations[].type names it ("graph").
	Type string `json:"type"`
	// Budget is the integration's daily request budget; UsedToday counts the requests sent to
	// the service since local midnight.
	Budget    int64 `json:"budget"`
	UsedToday int64 `json:"used_today"`
	// ProjectedToday is UsedToday plus what the current poll intervals will spend until
	// midnight; Projected24h is what they spend over a full day from now (never above Budget:
	// the intervals stretch first).
	ProjectedToday int64 `json:"projected_today"`
	Projected24h   int64 `json:"projected_24h"`
	// HotInterval and ColdInterval are the poll intervals in force (after stretching) for
	// rooms with a meeting soon or running, and for the others.
	HotInterval  time.Duration `json:"hot_interval"`
	ColdInterval time.Duration `json:"cold_interval"`
	// Rooms counts the rooms by status word.
	Rooms    map[string]int `json:"rooms"`
	HotRooms int            `json:"hot_rooms"`
	// Synced counts rooms whose last full read completed (they have a cursor to go on from).
	Synced          int  `json:"synced"`
	BudgetExhausted bool `json:"budget_exhausted"`
	// Notifications are the change-notification figures of a source that takes them (Graph
	// with notifications_url); nil, and absent from the JSON, for one that only polls.
	Notifications *NotifyStats `json:"notifications,omitempty"`
	// Probe is the change probe's figures (Graph's getSchedule probe); nil, and absent from
	// the JSON, for a source without one or with it off.
	Probe *ProbeStats `json:"probe,omitempty"`
}

// ProbeStats are a source's change probe: a cheap outbound read of many rooms' free/busy that
// makes a room poll at once when it changed (status page, MQTT metrics).
type ProbeStats struct {
	Enabled bool `json:"enabled"`
	// Rooms the probe covers (not while a live subscription does); Live those whose last probe
	// succeeded (their polls slow to the safety net's intervals); DetailsVisible those whose
	// free/busy shows subjects (the room shares LimitedDetails); Unavailable those the service
	// named an error for (unknown mailbox), polled as without a probe.
	Rooms          int `json:"rooms"`
	Live           int `json:"live"`
	DetailsVisible int `json:"details_visible"`
	Unavailable    int `json:"unavailable"`
	// HotInterval and ColdInterval are the probe intervals in force (after stretching).
	HotInterval  time.Duration `json:"hot_interval"`
	ColdInterval time.Duration `json:"cold_interval"`
	Requests     int64         `json:"requests"` // probe requests sent since start
	Changes      int64         `json:"changes"`  // rooms it found changed (each then polled)
	Failures     int64         `json:"failures"` // probe requests that failed
	LastError    string        `json:"last_error,omitempty"`
}

// NotifyStats are a source's change notifications: how many rooms are subscribed, what came
// in, and what failed (status page, MQTT metrics, bench).
type NotifyStats struct {
	Rooms     int    `json:"rooms"`     // rooms that should have a subscription
	Live      int    `json:"live"`      // rooms with a live subscription
	Received  int64  `json:"received"`  // notifications accepted (change and lifecycle)
	Ignored   int64  `json:"ignored"`   // refused: unknown subscription or wrong clientState
	Lifecycle int64  `json:"lifecycle"` // lifecycle notifications accepted
	Creates   int64  `json:"creates"`   // subscriptions created
	Renewals  int64  `json:"renewals"`  // ... renewed
	Deletes   int64  `json:"deletes"`   // ... deleted (the URL changed or was removed)
	Failures  int64  `json:"failures"`  // subscription calls that failed
	LastError string `json:"last_error,omitempty"`
}

// CheckResult is one integration's part of `otj-edge check`: what it printed, one line per
// thing checked (reaching the service, signing in, each room read once), prefixed with the
// integration's Component; and how many of those lines are failures.
type CheckResult struct {
	Lines  []string
	Failed int
}
