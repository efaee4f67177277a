package poll

import (
	"context"
	"log/slog"
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// What a room's status change tells the people who watch it, as the Graph source decided it
// and the other sources follow: the event log and the log line must not read differently
// because a room's calendar lives elsewhere.

// Kinds are the event kinds a source emits for its rooms' sync (its EventSyncError and
// EventSyncRecovered).
type Kinds struct {
	Error, Recovered string
}

// History is what Transition weighs of a room's past.
type History struct {
	Emitted  bool   // an error event of the room is out, and no recovery since
	Failures int    // consecutive failed rounds, this one included
	Status   string // the room's saved status before this round
	LastCode string // the failure code of the round before
}

// Outcome is a round's result for a room: store.RoomOK, or a failure's status, code and
// one-line detail.
type Outcome struct {
	Status, Code, Detail string
}

// Transition decides whether a room's new status is worth an event: conditions a person must
// fix at once (and again when they change), passing ones (throttled, transient) only once
// they last three rounds, and the recovery of a room that had an event out. It returns the
// event (nil for none) and whether an error event is out afterwards.
func Transition(k Kinds, integration, room string, h History, o Outcome) (*store.Event, bool) {
	if o.Status == store.RoomOK {
		if h.Emitted {
			return &store.Event{Kind: k.Recovered, Level: "info", Room: room, Message: room + ": calendar sync works again",
				Data: map[string]any{"integration": integration}}, false
		}
		return nil, false
	}
	mk := func(level string) *store.Event {
		return &store.Event{Kind: k.Error, Level: level, Room: room, Message: room + ": " + o.Detail,
			Data: map[string]any{"status": o.Status, "code": o.Code, "integration": integration}}
	}
	switch o.Status {
	case store.RoomThrottled, store.RoomTransient:
		if !h.Emitted && h.Failures >= 3 {
			return mk("warn"), true
		}
		return nil, h.Emitted
	}
	if !h.Emitted || o.Status != h.Status || o.Code != h.LastCode {
		return mk("error"), true
	}
	return nil, true
}

// Failed is a room's state to save after a failed round (o) at now, the next try at due, and
// whether it says something new (worth a log line). A throttled room shows when it is tried
// again; others do not.
func Failed(st store.RoomState, o Outcome, integration string, now, due time.Time) (store.RoomState, bool) {
	changed := st.Status != o.Status || st.StatusDetail != o.Detail
	st.Status, st.StatusDetail, st.LastAttempt, st.Integration = o.Status, o.Detail, now, integration
	st.RetryAfter = time.Time{}
	if o.Status == store.RoomThrottled {
		st.RetryAfter = due
	}
	return st, changed
}

// LogFailure logs a room's new failure: a warning for a passing condition (throttled,
// transient), an error for one a person must fix.
func LogFailure(ctx context.Context, log *slog.Logger, room string, o Outcome, retryIn time.Duration) {
	level := slog.LevelWarn
	if o.Status != store.RoomThrottled && o.Status != store.RoomTransient {
		level = slog.LevelError
	}
	log.Log(ctx, level, "room not syncing", "room", room, "status", o.Status, "code", o.Code, "detail", o.Detail, "retry_in", retryIn.Round(time.Second))
}
