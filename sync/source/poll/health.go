package poll

import (
	"fmt"
	"sort"
	"strings"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/source"
)

// Tally counts a source's rooms by status for its health line, so that every polling source
// words that line the same way (operators read the status page across sources).
type Tally struct {
	total, pending int
	bad            []string // "room status", of the rooms not syncing
	counts         map[string]int
}

// Add counts a room by its status word ("" is a room not read yet).
func (t *Tally) Add(room, status string) {
	t.total++
	switch status {
	case store.RoomOK:
	case store.RoomPending, "":
		t.pending++
	default:
		if t.counts == nil {
			t.counts = map[string]int{}
		}
		t.counts[status]++
		t.bad = append(t.bad, room+" "+status)
	}
}

// Report sets component's health from the tally: an error when no room syncs, a warning when
// the budget is used up (exhausted, in the source's words; "" when it is not) or some rooms
// do not sync, else OK with note (a source's extra word, e.g. its streams; "" for none).
func (t *Tally) Report(h *health.Tracker, component, exhausted, note string) {
	switch {
	case t.total > 0 && len(t.bad) == t.total:
		h.Fail(component, fmt.Sprintf("no room syncs: %s", summarize(t.counts)))
	case exhausted != "":
		h.Warn(component, exhausted)
	case len(t.bad) > 0:
		sort.Strings(t.bad)
		h.Warn(component, fmt.Sprintf("%d of %d rooms not syncing (%s): %s", len(t.bad), t.total, summarize(t.counts), strings.Join(t.bad[:min(3, len(t.bad))], ", ")))
	case t.pending > 0:
		h.OK(component, fmt.Sprintf("first sync: %d of %d rooms done", t.total-t.pending, t.total))
	case note != "":
		h.OK(component, fmt.Sprintf("%d rooms in sync; %s", t.total, note))
	default:
		h.OK(component, fmt.Sprintf("%d rooms in sync", t.total))
	}
}

// summarize is "2 auth_failed, 1 not_found": the counts by status, in order.
func summarize(counts map[string]int) string {
	var parts []string
	for k, v := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", v, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// CountRoom adds a room to a source's Stats: its status ("" counts as pending), whether it is
// hot now, and whether its last full read completed (it has a cursor to go on from).
func CountRoom(st *source.Stats, status string, hot, synced bool) {
	if status == "" {
		status = store.RoomPending
	}
	if st.Rooms == nil {
		st.Rooms = map[string]int{}
	}
	st.Rooms[status]++
	if hot {
		st.HotRooms++
	}
	if synced {
		st.Synced++
	}
}
