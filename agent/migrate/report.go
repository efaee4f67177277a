package migrate

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/rules"
)

// What a shadowed room reads as (Room.State).
const (
	// Identical: the shadow resolves exactly the meetings the room shows; it can be moved.
	Identical = "identical"
	// Differs: Differences says how, first ones first.
	Differs = "differs"
	// NotReadable: the shadow integration may not read the room; Fix says what to change.
	NotReadable = "not_readable"
	// Pending: the shadow (or the live room) has not completed a sync yet.
	Pending = "pending"
)

// MaxDifferences is how many differences a room lists; More counts the rest.
const MaxDifferences = 5

// Report is the shadow check of every shadowed room.
type Report struct {
	CheckedAt time.Time `json:"checked_at"`
	// Counts are the rooms by State.
	Counts map[string]int `json:"counts"`
	Rooms  []Room         `json:"rooms"`
}

// Room is one shadowed room's comparison.
type Room struct {
	Room   string `json:"room"`
	Live   string `json:"live"`   // the integration the room reads live
	Shadow string `json:"shadow"` // the integration that shadows it
	State  string `json:"state"`  // Identical, Differs, NotReadable, Pending
	// Detail is one sentence on the state; Fix what to do next (for an identical room: the
	// line that moves it).
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
	// LiveMeetings and ShadowMeetings count the meetings compared.
	LiveMeetings   int `json:"live_meetings"`
	ShadowMeetings int `json:"shadow_meetings"`
	// Differences are the first MaxDifferences, in words; More is how many more there are.
	Differences []string `json:"differences,omitempty"`
	More        int      `json:"more,omitempty"`
	// ShadowStatus is the shadow source's status word for the room (store.Room*).
	ShadowStatus string    `json:"shadow_status"`
	ShadowSynced time.Time `json:"shadow_synced,omitzero"`
}

// StorePath is where the shadow integration keeps its store: apart from the live one, so
// nothing the rooms rely on is ever touched by it.
func StorePath(stateDir, integration string) string {
	return filepath.Join(stateDir, "shadow", integration+".db")
}

// Stores gives a shadow integration's open store, or nil when it has none yet (not started,
// or never run while the agent was stopped).
type Stores func(integration string) *store.Store

// compareMargin keeps the far edge of the compared span inside what both sides show: the
// profile shows meetings starting before upcoming_days from when it last resolved the room, and
// the processor resolves every room at least hourly.
const compareMargin = 2 * time.Hour

// Collect compares every shadowed room of cfg: live meetings from live, shadow meetings from
// the shadow's store, from now to upcoming_days ahead (less compareMargin); times in words in
// loc.
func Collect(ctx context.Context, cfg *config.Config, live *store.Store, shadows Stores, now time.Time, loc *time.Location) (Report, error) {
	rep := Report{CheckedAt: now.UTC(), Counts: map[string]int{}, Rooms: []Room{}}
	for _, in := range cfg.Shadows() {
		sh := shadows(in.Name)
		for _, r := range cfg.ShadowRooms(in.Name) {
			room, err := collectRoom(ctx, cfg, r, in.Name, live, sh, now, loc)
			if err != nil {
				return Report{}, fmt.Errorf("migration status of %s: %w", r.Mailbox, err)
			}
			rep.Rooms = append(rep.Rooms, room)
			rep.Counts[room.State]++
		}
	}
	sort.SliceStable(rep.Rooms, func(i, j int) bool {
		if rep.Rooms[i].Room != rep.Rooms[j].Room {
			return rep.Rooms[i].Room < rep.Rooms[j].Room
		}
		return rep.Rooms[i].Shadow < rep.Rooms[j].Shadow
	})
	return rep, nil
}

// side is what one store holds about a room.
type side struct {
	state    store.RoomState
	resolved bool
	meetings []calendar.Meeting
}

func read(ctx context.Context, st *store.Store, room string, from, to time.Time) (side, error) {
	var s side
	var err error
	if s.state, _, err = st.Room(ctx, room); err != nil {
		return s, err
	}
	if s.resolved, _, err = st.RoomResolved(ctx, room); err != nil {
		return s, err
	}
	s.meetings, err = stored.Meetings(ctx, st, room, from, to)
	return s, err
}

func collectRoom(ctx context.Context, cfg *config.Config, r config.Room, shadow string, live, sh *store.Store, now time.Time, loc *time.Location) (Room, error) {
	out := Room{Room: r.Mailbox, Live: r.Integration, Shadow: shadow, ShadowStatus: store.RoomPending}
	days := rules.DefaultUpcomingDays
	if p := cfg.Profile(r.Profile); p != nil && p.Settings.UpcomingDays != nil {
		days = *p.Settings.UpcomingDays
	}
	to := now.Add(time.Duration(days)*24*time.Hour - compareMargin)
	if sh == nil {
		out.State, out.Detail = Pending, "the shadow integration "+shadow+" has not started reading the room yet"
		return out, nil
	}
	ls, err := read(ctx, live, r.Mailbox, now, to)
	if err != nil {
		return out, err
	}
	ss, err := read(ctx, sh, r.Mailbox, now, to)
	if err != nil {
		return out, err
	}
	out.ShadowStatus, out.ShadowSynced = ss.state.Status, ss.state.LastSuccess
	out.LiveMeetings, out.ShadowMeetings = len(ls.meetings), len(ss.meetings)
	judge(&out, r, ls, ss, whenIn(now, loc))
	return out, nil
}

// notReadable are the status words that mean the shadow may not (or cannot) read the room.
var notReadable = map[string]bool{store.RoomPolicyDenied: true, store.RoomNotFound: true,
	store.RoomNotRESTEnabled: true, store.RoomAuthFailed: true}

func judge(out *Room, r config.Room, ls, ss side, when func(time.Time) string) {
	switch {
	case notReadable[ss.state.Status]:
		out.State = NotReadable
		out.Detail = fmt.Sprintf("the shadow integration %s cannot read the room: %s", out.Shadow, ss.state.Status)
		out.Fix = ss.state.StatusDetail
		return
	case !ss.resolved:
		out.State, out.Detail = Pending, "the shadow integration "+out.Shadow+" has not completed a sync of the room yet"
		if ss.state.StatusDetail != "" {
			out.Detail += " (" + ss.state.Status + ": " + ss.state.StatusDetail + ")"
		}
		return
	case !ls.resolved:
		out.State, out.Detail = Pending, "the room has not completed a sync through its live integration "+out.Live+" yet"
		return
	}
	diffs := Compare(ls.meetings, ss.meetings, when)
	if len(diffs) == 0 {
		out.State = Identical
		noun := "meetings"
		if len(ls.meetings) == 1 {
			noun = "meeting"
		}
		out.Detail = fmt.Sprintf("%d %s, the same through %s and %s", len(ls.meetings), noun, out.Live, out.Shadow)
		out.Fix = fmt.Sprintf("to move it: integration: %s on its endpoints (%s), then otj-edge reload",
			out.Shadow, strings.Join(r.Endpoints, ", "))
		return
	}
	out.State = Differs
	noun := "differences"
	if len(diffs) == 1 {
		noun = "difference"
	}
	out.Detail = fmt.Sprintf("%d %s between %s (live) and %s (shadow)", len(diffs), noun, out.Live, out.Shadow)
	if len(diffs) > MaxDifferences {
		out.More = len(diffs) - MaxDifferences
		diffs = diffs[:MaxDifferences]
	}
	out.Differences = diffs
}

// whenIn formats times as "15:04" today and "Mon 2 Jan 15:04" on other days, in loc.
func whenIn(now time.Time, loc *time.Location) func(time.Time) string {
	n := now.In(loc)
	return func(t time.Time) string {
		t = t.In(loc)
		if t.Year() == n.Year() && t.YearDay() == n.YearDay() {
			return t.Format("15:04")
		}
		return t.Format("Mon 2 Jan 15:04")
	}
}
