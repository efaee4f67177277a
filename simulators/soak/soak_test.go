package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/simulators/harness"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// smokeKnobs are the small numbers `make test` runs every scenario with.
func smokeKnobs() Knobs {
	return Knobs{Kills: 3, Events: 200, Rooms: 3, Outage: 16 * time.Second, StormFor: 6 * time.Second,
		ChurnRounds: 10, Converge: 30 * time.Second, Seed: 1}
}

// TestSmoke runs every scenario with small numbers against the real binaries and checks each
// one's verdict and the counts behind it.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs the soak smoke test: do not pass -short")
		}
		t.Skip("runs the real binaries")
	}
	root, err := harness.Root()
	require.NoError(t, err)
	dir := t.TempDir()
	bins, err := harness.Build(t.Context(), root, filepath.Join(dir, "bin"))
	require.NoError(t, err)
	checks := map[string]func(t *testing.T, c counts){
		"kill9": func(t *testing.T, c counts) {
			assert.Equal(t, 3.0, c.n("kills"))
			assert.Equal(t, 3.0, c.n("integrity_ok"), "integrity_check ok after every kill")
			assert.Zero(t, c.n("events_lost"))
			assert.Positive(t, c.n("events_emitted"))
			assert.Equal(t, c.n("events_emitted")-c.n("events_dropped_by_cap"), c.n("events_received"), "every committed event arrived")
			assert.Positive(t, c.n("graph_edits"))
			assert.LessOrEqual(t, c.n("converge_max_seconds"), 30.0)
		},
		"broker_down": func(t *testing.T, c counts) {
			assert.Equal(t, 200.0, c.n("events_produced"))
			assert.GreaterOrEqual(t, c.n("outbox_depth_while_down"), 200.0, "the events waited in the outbox")
			assert.GreaterOrEqual(t, c.n("events_received"), 200.0)
			assert.Zero(t, c.n("events_lost"))
			assert.Zero(t, c.n("events_dropped_by_cap"))
		},
		"graph_storm": func(t *testing.T, c counts) {
			for _, f := range []string{"429", "503", "410", "slow", "garbage", "drop"} {
				assert.Positive(t, c.n("hits_"+f), "the %s fault was met", f)
			}
			assert.Zero(t, c.n("early_retries"))
			assert.LessOrEqual(t, c.n("max_in_flight"), 4.0)
		},
		"codec_storm": func(t *testing.T, c counts) {
			assert.Positive(t, c.n("codecs_403"))
			assert.Positive(t, c.n("answers_403"))
			assert.Zero(t, c.n("codecs_locked_out"))
			assert.Positive(t, c.n("codec_reboots")+c.n("codec_drops"))
		},
		"wan_down": func(t *testing.T, c counts) {
			assert.Equal(t, true, c["restarted_during_outage"])
			assert.Positive(t, c.n("checks_during_outage"))
			assert.Zero(t, c.n("full_syncs_after_outage"), "sync resumed through the deltaLinks")
		},
		"bad_input": func(t *testing.T, c counts) {
			assert.Positive(t, c.n("bad_configs"))
			assert.Equal(t, c.n("bad_configs"), c.n("bad_configs_clear_errors"))
			assert.Equal(t, c.n("ews_junk_requests"), c.n("ews_junk_refused_clearly"))
			assert.Equal(t, c.n("status_api_bad_requests"), c.n("status_api_clear_errors"))
			assert.Equal(t, c.n("junk_invites_posted"), c.n("junk_invites_stored"))
			assert.Zero(t, c.n("meetings_lost"))
			assert.Positive(t, c.n("jsonrpc_junk_frames"), "the codec sent garbage frames")
		},
		"leaks": func(t *testing.T, c counts) {
			assert.Equal(t, 10.0, c.n("rounds"))
			assert.Positive(t, c.n("goroutines_start"))
			assert.Positive(t, c.n("open_files_start"))
			assert.LessOrEqual(t, c.n("goroutines_end"), c.n("goroutines_start")+max(10, c.n("goroutines_start")/10))
		},
	}
	require.ElementsMatch(t, Names(), keys(checks), "every scenario has a smoke check")
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			rep, err := RunWith(t.Context(), bins, dir, []string{name}, smokeKnobs(), log)
			require.NoError(t, err)
			require.Len(t, rep.Scenarios, 1)
			r := rep.Scenarios[0]
			assert.True(t, r.Pass, "failures: %v; error: %s; counts: %v", r.Failures, r.Error, r.Counts)
			checks[name](t, counts(r.Counts))
		})
	}
}

type counts map[string]any

// n is a count as a float64 (0 when absent).
func (c counts) n(key string) float64 {
	f, _ := strconv.ParseFloat(fmt.Sprint(c[key]), 64)
	return f
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The checks themselves must be able to fail: each is fed known-bad input here.

func TestCompareBookingsFindsEveryDifference(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	from, to := now.Add(-time.Hour), now.Add(36*time.Hour)
	ev := func(id, subject string, start time.Time, d time.Duration) calendar.Event {
		return calendar.Event{ID: "g-" + id, ICalUID: id, Subject: subject,
			Start: &calendar.DateTimeTimeZone{DateTime: start.Format("2006-01-02T15:04:05"), TimeZone: "UTC"},
			End:   &calendar.DateTimeTimeZone{DateTime: start.Add(d).Format("2006-01-02T15:04:05"), TimeZone: "UTC"}}
	}
	a := ev("a", "Planning", now.Add(time.Hour), 30*time.Minute)
	b := ev("b", "Review", now.Add(3*time.Hour), time.Hour)
	ended := ev("c", "Long gone", now.Add(-5*time.Hour), time.Hour)
	noJoin := ev("d", "Lunch", now.Add(5*time.Hour), time.Hour)
	idOf := func(e calendar.Event) string { s, _ := e.StartTime(); return bookingID(e, s) }
	resolved := []web.Meeting{
		{ID: idOf(a), Join: true, Number: "1@x.example.com"},
		{ID: idOf(b), Join: true, Number: "2@x.example.com"},
		{ID: idOf(noJoin), Join: false},
	}
	booking := func(e calendar.Event, number string) ciscosim.Booking {
		s, _ := e.StartTime()
		end, _ := e.EndTime()
		return ciscosim.Booking{Id: idOf(e), Title: e.Subject, Number: number,
			Time: ciscosim.BookingTime{StartTime: s.UTC().Format("2006-01-02T15:04:05Z"), Duration: int(end.Sub(s) / time.Minute)}}
	}
	truth := []calendar.Event{a, b, ended, noJoin}
	right := []ciscosim.Booking{booking(a, "1@x.example.com"), booking(b, "2@x.example.com")}
	assert.Empty(t, compareBookings(truth, resolved, right, from, to), "the right bookings (the meeting without a Join button may be absent)")

	moved := booking(b, "2@x.example.com")
	moved.Time.Duration = 45
	stale := booking(ev("z", "Deleted in Graph", now.Add(2*time.Hour), time.Hour), "9@x.example.com")
	for name, tc := range map[string]struct {
		got  []ciscosim.Booking
		want string
	}{
		"missing":      {[]ciscosim.Booking{booking(a, "1@x.example.com")}, "is missing from the codec"},
		"extra":        {append(right[:2:2], stale), "is not in Graph's calendar"},
		"wrong time":   {[]ciscosim.Booking{booking(a, "1@x.example.com"), moved}, "Graph says"},
		"wrong number": {[]ciscosim.Booking{booking(a, "7@x.example.com"), booking(b, "2@x.example.com")}, "the agent resolved"},
		"empty codec":  {nil, "is missing from the codec"},
	} {
		t.Run(name, func(t *testing.T) {
			diffs := compareBookings(truth, resolved, tc.got, from, to)
			require.NotEmpty(t, diffs)
			assert.Contains(t, fmt.Sprint(diffs), tc.want)
		})
	}
	// A meeting Graph has but the agent never resolved is a difference too.
	diffs := compareBookings(truth, resolved[:1], right, from, to)
	assert.Contains(t, fmt.Sprint(diffs), "not among the agent's resolved meetings")
}

func TestAuthViolations(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ok := []ciscosim.HandshakeRecord{{At: t0, Status: 101}, {At: t0.Add(time.Second), Status: 403}, {At: t0.Add(5*time.Minute + 2*time.Second), Status: 101}}
	assert.Empty(t, authViolations(ok))
	bad := []ciscosim.HandshakeRecord{{At: t0, Status: 403}, {At: t0.Add(10 * time.Second), Status: 403}, {At: t0.Add(20 * time.Second), Status: 101}}
	assert.Len(t, authViolations(bad), 2, "two attempts within 5 minutes of a 403")
	assert.Empty(t, authViolations([]ciscosim.HandshakeRecord{{At: t0, Status: 101}, {At: t0.Add(time.Second), Status: http.StatusBadGateway}}), "only 403s count")
}

func TestFlatViolations(t *testing.T) {
	n := func(v int) *int { return &v }
	start := web.Runtime{Goroutines: 50, OpenFiles: n(30)}
	assert.Empty(t, flatViolations(start, web.Runtime{Goroutines: 58, OpenFiles: n(34)}), "within the tolerance")
	v := flatViolations(start, web.Runtime{Goroutines: 400, OpenFiles: n(330)})
	require.Len(t, v, 2)
	assert.Contains(t, v[0], "goroutines grew from 50 to 400")
	assert.Contains(t, v[1], "open descriptors grew from 30 to 330")
}

func TestKnobsFromEnvironment(t *testing.T) {
	t.Setenv("SOAK_KILLS", "7")
	t.Setenv("SOAK_OUTAGE", "2m")
	t.Setenv("SOAK_EVENTS", "not a number")
	k := Defaults()
	envKnobs(&k)
	assert.Equal(t, 7, k.Kills)
	assert.Equal(t, 2*time.Minute, k.Outage)
	assert.Equal(t, Defaults().Events, k.Events, "a bad value leaves the default")
}
