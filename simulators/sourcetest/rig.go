// Package sourcetest is the behaviour table every calendar source passes: one set of cases
// (adds, edits, cancels, deletes, recurring series with exceptions, restart without resync,
// the window rolling at midnight, throttling obeyed, bad rooms not delaying good ones) run
// against each source type through its own simulator, asserting what a user notices: the
// meetings sync/process resolves from the store, and the rooms' statuses.
//
// It is imported only by tests (sync/<source>/sourcetable_test.go); production code never
// imports simulators/. Every source's simulator fronts a *graphsim.Server (ewssim serves the
// same rooms and events over EWS), so the table edits calendars with graphsim's operations
// whatever the source.
package sourcetest

import (
	"testing"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/sync/source"
)

// T0 is the table's start: a Monday morning, 09:00 UTC. With upcoming_days 7 the sources'
// window is [Sunday 00:00, Tuesday a week later 00:00).
var T0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// Counters are what the simulator counted for one room, in the table's words.
type Counters struct {
	// Requests naming the room (batch parts, SOAP calls impersonating it, …).
	Requests int
	// FullReads counts reads of the room's calendar from scratch (Graph: delta rounds started
	// with a window; EWS: SyncFolderItems without a SyncState). A change or a restart must
	// not cause one.
	FullReads int
	// Throttled counts the service's throttling answers (429, ErrorServerBusy).
	Throttled int
	// EarlyRetries counts requests sent before the wait the service asked for had passed.
	EarlyRetries int
}

// Rig is one source type under the table: its simulator and how to build the source.
type Rig interface {
	// Sim is the calendar the cases edit (its clock is the table's fake clock).
	Sim() *graphsim.Server
	// Integration is the name the source's rooms and cursors are stored under.
	Integration() string
	// NewSource builds the source under test for rooms, with at most maxInFlight requests at
	// once (0: the source's default). It must read nothing from the network until Run, and
	// must implement Settler so the table can drive the fake clock.
	NewSource(deps source.Deps, rooms []source.Room, maxInFlight int) (source.Source, error)
	// Throttle makes the service throttle the room from now on with its own answer (Graph:
	// 429 with Retry-After; EWS: ErrorServerBusy with BackOffMilliseconds), allowing about
	// one request every ten minutes.
	Throttle(room string) error
	// Deny makes the room unreadable by policy (Graph: outside the application access policy;
	// EWS: no impersonation right on it), or readable again when denied is false.
	Deny(room string, denied bool) error
	// DenyFix is text the denied room's status detail must contain: the fix, in the service's
	// own words (the command an admin runs).
	DenyFix(room string) string
	// Counters reads the simulator's counters for a room.
	Counters(room string) Counters
}

// Settler is what a source offers a test driving a fake clock: Progress is signalled
// (coalesced) when a room's sync step finishes; Quiet reports that no room is mid-step and
// none is due at the clock's current time.
type Settler interface {
	Quiet() bool
	Progress() <-chan struct{}
}

// NewRig makes a rig whose simulator runs on clk; the simulator is closed when t ends.
type NewRig func(t *testing.T, clk *clock.Fake) Rig
