package report

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// The store's event log keeps only its newest entries (about a thousand), fewer than a
// large site records in a day, so the report cannot be read from it the morning after.
// Instead the day's figures are folded into a tally per local day as the events are
// recorded, and the report reads the tally.

// Event kinds the tally counts (the drivers' words: device/cisco, device/poly).
const (
	kindPushOK     = "push.ok"
	kindPushFailed = "push.failed"
	kindJoined     = "meeting.joined"
	kindNotJoined  = "meeting.not_joined"
	kindNotPolling = "endpoint.not_polling"
)

const (
	keyTally    = "report.tally."         // + day
	keyCursor   = "report.events_seq"     // the newest event-log entry folded
	keySince    = "report.counting_since" // when folding started (RFC 3339)
	keepTallies = 7                       // days of tallies kept
	// logWindow reads at least the whole event log (the store trims it to its newest 1,000).
	logWindow = 1200
)

// tally is one local day's figures from the event log.
type tally struct {
	Pushes         map[string]int `json:"pushes"`        // endpoint → accepted pushes
	PushFailures   map[string]int `json:"push_failures"` // endpoint → refused pushes
	NotPolling     map[string]int `json:"not_polling"`   // endpoint → alarms
	Joined         int            `json:"joined"`
	NotJoinedTotal int            `json:"not_joined_total"`
	NotJoined      []NotJoined    `json:"not_joined"`
	// Since is when counting started, if after the day began; Missed counts entries trimmed
	// from the log before they were folded.
	Since  time.Time `json:"since,omitzero"`
	Missed int64     `json:"missed,omitempty"`
}

func newTally() *tally {
	return &tally{Pushes: map[string]int{}, PushFailures: map[string]int{}, NotPolling: map[string]int{}, NotJoined: []NotJoined{}}
}

func loadTally(ctx context.Context, st *store.Store, day string) (*tally, error) {
	v, ok, err := st.Get(ctx, keyTally+day)
	if err != nil {
		return nil, fmt.Errorf("daily report: %w", err)
	}
	return decodeTally(v, ok)
}

func decodeTally(v string, ok bool) (*tally, error) {
	t := newTally()
	if !ok || v == "" {
		return t, nil
	}
	if err := json.Unmarshal([]byte(v), t); err != nil {
		return nil, fmt.Errorf("daily report: read the day's tally: %w", err)
	}
	for _, m := range []*map[string]int{&t.Pushes, &t.PushFailures, &t.NotPolling} {
		if *m == nil {
			*m = map[string]int{}
		}
	}
	return t, nil
}

// folder folds new event-log entries into the day tallies.
type folder struct {
	st  *store.Store
	loc *time.Location
}

// fold reads the entries recorded since the last fold and adds them to their days' tallies,
// in one transaction with the cursor, so an entry is counted once across restarts.
func (f *folder) fold(ctx context.Context, now time.Time) error {
	cursor, err := f.st.Counter(ctx, keyCursor)
	if err != nil {
		return fmt.Errorf("daily report: %w", err)
	}
	_, started, err := f.st.Get(ctx, keySince)
	if err != nil {
		return fmt.Errorf("daily report: %w", err)
	}
	// Most folds find a few new entries: read a few first, the whole log only when needed.
	entries, err := f.st.EventLog(ctx, store.EventFilter{Limit: 64})
	if err != nil {
		return fmt.Errorf("daily report: %w", err)
	}
	if len(entries) == 64 && entries[len(entries)-1].Seq > cursor {
		if entries, err = f.st.EventLog(ctx, store.EventFilter{Limit: logWindow}); err != nil {
			return fmt.Errorf("daily report: %w", err)
		}
	}
	var fresh []store.LoggedEvent // oldest first
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Seq > cursor {
			fresh = append(fresh, entries[i])
		}
	}
	if len(fresh) == 0 && started {
		return nil
	}
	return f.st.Write(ctx, func(tx *store.Tx) error {
		days := map[string]*tally{}
		get := func(day string) (*tally, error) {
			if t, ok := days[day]; ok {
				return t, nil
			}
			v, ok, err := tx.Get(keyTally + day)
			if err != nil {
				return nil, err
			}
			t, err := decodeTally(v, ok)
			if err != nil {
				return nil, err
			}
			days[day] = t
			return t, nil
		}
		if !started {
			// The first fold: the log may already have lost the start of today. Counting
			// starts with the oldest entry still there (or now, with an empty log).
			since := now
			if len(fresh) > 0 && fresh[0].Seq > 1 {
				since = fresh[0].At
			} else if len(fresh) > 0 {
				since = time.Time{} // the log holds everything since the store was made
			}
			t, err := get(dayOf(now, f.loc))
			if err != nil {
				return err
			}
			if since.After(startOfDay(now, f.loc)) {
				t.Since = since.UTC()
			}
			if err := tx.Set(keySince, now.UTC().Format(time.RFC3339)); err != nil {
				return err
			}
		} else if len(fresh) > 0 && fresh[0].Seq > cursor+1 {
			t, err := get(dayOf(fresh[0].At, f.loc))
			if err != nil {
				return err
			}
			t.Missed += fresh[0].Seq - cursor - 1
		}
		for _, e := range fresh {
			if err := f.add(e, get); err != nil {
				return err
			}
		}
		for day, t := range days {
			b, err := json.Marshal(t)
			if err != nil {
				return fmt.Errorf("daily report: %w", err)
			}
			if err := tx.Set(keyTally+day, string(b)); err != nil {
				return err
			}
			// Empty the tally that falls out of the kept days (the table has no delete).
			if d, err := time.ParseInLocation("2006-01-02", day, f.loc); err == nil {
				if err := tx.Set(keyTally+d.AddDate(0, 0, -keepTallies).Format("2006-01-02"), ""); err != nil {
					return err
				}
			}
		}
		if len(fresh) > 0 {
			return tx.Set(keyCursor, strconv.FormatInt(fresh[len(fresh)-1].Seq, 10))
		}
		return nil
	})
}

// add counts one entry in its day: a meeting in the day it started, anything else in the
// day it was recorded.
func (f *folder) add(e store.LoggedEvent, get func(string) (*tally, error)) error {
	switch e.Kind {
	case kindPushOK, kindPushFailed, kindNotPolling, kindJoined, kindNotJoined:
	default:
		return nil
	}
	start, hasStart := meetingStart(e)
	day := dayOf(e.At, f.loc)
	if hasStart {
		day = dayOf(start, f.loc)
	}
	t, err := get(day)
	if err != nil {
		return err
	}
	switch e.Kind {
	case kindPushOK:
		t.Pushes[e.Endpoint]++
	case kindPushFailed:
		t.PushFailures[e.Endpoint]++
	case kindNotPolling:
		t.NotPolling[e.Endpoint]++
	case kindJoined:
		t.Joined++
	case kindNotJoined:
		t.NotJoinedTotal++
		if len(t.NotJoined) < MaxListed {
			t.NotJoined = append(t.NotJoined, notJoinedOf(e, start))
		}
	}
	return nil
}

// notJoinedOf is the report's line for a meeting.not_joined event. The subject is what the
// codec showed (the profile's subject rules already applied), kept only when the event says
// the meeting was not private: the report travels to the central broker, and a private
// meeting's subject must not, whatever the profile shows on the panel. An event that does not
// say (recorded by an older version) is treated as private.
func notJoinedOf(e store.LoggedEvent, start time.Time) NotJoined {
	n := NotJoined{Room: e.Room, Endpoint: e.Endpoint, Start: start.UTC(), Private: true}
	if start.IsZero() {
		n.Start = e.At.UTC()
	}
	if p, ok := e.Data["platform"].(string); ok {
		n.Platform = p
	}
	if private, ok := e.Data["private"].(bool); ok && !private {
		n.Private = false
		n.Subject = subjectOf(e)
	}
	return n
}

// subjectOf is the booking title the event carries: data.title, or the quoted title of the
// message (`booked but not joined: "Title"`).
func subjectOf(e store.LoggedEvent) string {
	if s, ok := e.Data["title"].(string); ok {
		return s
	}
	if i := strings.Index(e.Message, ": \""); i >= 0 {
		if s, err := strconv.Unquote(e.Message[i+2:]); err == nil {
			return s
		}
	}
	return ""
}

func meetingStart(e store.LoggedEvent) (time.Time, bool) {
	if e.Kind != kindJoined && e.Kind != kindNotJoined {
		return time.Time{}, false
	}
	s, _ := e.Data["start"].(string)
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}

func dayOf(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01-02") }

func startOfDay(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
}
