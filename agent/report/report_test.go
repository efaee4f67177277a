package report

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/store"
)

var oslo = mustZone("Europe/Oslo")

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

type site struct {
	t     *testing.T
	st    *store.Store
	clk   *clock.Fake
	path  string
	ctx   context.Context
	cause context.CancelFunc
}

// newSite opens a real store whose writes are stamped with the fake clock, with rooms and
// endpoints as the config makes them.
func newSite(t *testing.T, now time.Time) *site {
	clk := clock.NewFake(now)
	s := &site{t: t, clk: clk, path: filepath.Join(t.TempDir(), "otj-edge.db")}
	s.open()
	s.write(func(tx *store.Tx) error {
		if err := tx.SyncRooms([]store.RoomRef{{Mailbox: "room-01@contoso.example", Integration: "m365"},
			{Mailbox: "room-02@contoso.example", Integration: "m365"}, {Mailbox: "room-03@contoso.example", Integration: "m365"}}); err != nil {
			return err
		}
		return tx.SyncEndpoints([]store.EndpointRef{{Name: "codec-1", Type: "cisco", Room: "room-01@contoso.example"},
			{Name: "codec-2", Type: "cisco", Room: "room-02@contoso.example"}, {Name: "poly-1", Type: "poly", Room: "room-03@contoso.example"}})
	})
	return s
}

func (s *site) open() {
	st, err := store.Open(context.Background(), s.path, store.Options{Now: s.clk.Now})
	require.NoError(s.t, err)
	s.st = st
	s.t.Cleanup(func() { st.Close() })
}

func (s *site) write(fn func(tx *store.Tx) error) {
	require.NoError(s.t, s.st.Write(context.Background(), fn))
}

// emit records an event the way the drivers do (device/cisco's codec.event, device/poly).
func (s *site) emit(e store.Event) { s.write(func(tx *store.Tx) error { return tx.Emit(e) }) }

func notJoined(room, ep, title string, start time.Time, private bool) store.Event {
	return store.Event{Kind: "meeting.not_joined", Level: "info", Room: room, Endpoint: ep,
		Message: fmt.Sprintf("booked but not joined: %q", title),
		Data:    map[string]any{"booking_id": title, "start": start.UTC().Format(time.RFC3339), "protocol": "SIP", "platform": "MicrosoftTeams", "private": private}}
}

// run starts a runner and returns a function that stops it and waits.
func (s *site) run(at time.Duration, reqs Requests) func() {
	created := s.clk.TimerCreated()
	r, err := New(Options{Store: s.st, Site: "oslo-hq", At: at, Location: oslo, Clock: s.clk, Requests: reqs})
	require.NoError(s.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-created // the report timer is armed
	return func() {
		cancel()
		require.NoError(s.t, <-done)
	}
}

func (s *site) latest() (Report, bool) {
	r, ok, err := Latest(context.Background(), s.st)
	require.NoError(s.t, err)
	return r, ok
}

// waitReport waits for a new report to be kept.
func waitReport(t *testing.T, sub *store.Sub) {
	t.Helper()
	select {
	case <-sub.C:
		sub.Take()
	case <-time.After(10 * time.Second):
		t.Fatal("no report was made")
	}
}

func TestTheReportSumsUpThePreviousDay(t *testing.T) {
	day := time.Date(2026, 3, 9, 0, 0, 0, 0, oslo)
	s := newSite(t, day.Add(7*time.Hour+30*time.Minute))
	// The store's first event is in the log when counting starts: the whole day is covered.
	s.emit(store.Event{Kind: "endpoint.up", Room: "room-01@contoso.example", Endpoint: "codec-1", Message: "connected"})
	stop := s.run(7*time.Hour, func(_ context.Context, from time.Time) ([]Integration, error) {
		assert.Equal(t, day, from, "requests are asked for the reported day")
		return []Integration{{Name: "m365", Type: "graph", Requests: 12_500, Budget: 1_000_000}}, nil
	})
	defer stop()

	// During the day: rooms sync (one is refused), codecs take pushes, meetings are missed.
	s.write(func(tx *store.Tx) error {
		for _, r := range []store.RoomState{
			{Mailbox: "room-01@contoso.example", Integration: "m365", Status: "ok", LastSuccess: s.clk.Now()},
			{Mailbox: "room-02@contoso.example", Integration: "m365", Status: "ok", LastSuccess: s.clk.Now()},
			{Mailbox: "room-03@contoso.example", Integration: "m365", Status: "policy_denied",
				StatusDetail: "the app may not read this mailbox: add it to the management scope"},
		} {
			if err := tx.PutRoom(r); err != nil {
				return err
			}
		}
		return nil
	})
	s.emit(store.Event{Kind: "push.ok", Room: "room-01@contoso.example", Endpoint: "codec-1", Message: "3 bookings pushed", Data: map[string]any{"bookings": 3}})
	s.emit(store.Event{Kind: "push.ok", Room: "room-01@contoso.example", Endpoint: "codec-1", Message: "4 bookings pushed", Data: map[string]any{"bookings": 4}})
	s.emit(store.Event{Kind: "push.failed", Level: "error", Room: "room-02@contoso.example", Endpoint: "codec-2", Message: "the codec refused the bookings: x"})
	s.emit(store.Event{Kind: "meeting.joined", Room: "room-01@contoso.example", Endpoint: "codec-1", Message: `meeting joined from the room: "Standup"`,
		Data: map[string]any{"start": day.Add(9 * time.Hour).UTC().Format(time.RFC3339), "private": false}})
	s.emit(notJoined("room-01@contoso.example", "codec-1", "Quarterly review", day.Add(14*time.Hour), false))
	s.emit(notJoined("room-02@contoso.example", "codec-2", "Ada Lovelace", day.Add(11*time.Hour), true))
	s.emit(store.Event{Kind: "endpoint.not_polling", Level: "warn", Room: "room-03@contoso.example", Endpoint: "poly-1", Message: "not polling"})
	s.write(func(tx *store.Tx) error {
		if err := tx.PutEndpoint(store.EndpointState{Name: "codec-1", Type: "cisco", Room: "room-01@contoso.example", State: store.EndpointUp, LastPush: s.clk.Now()}); err != nil {
			return err
		}
		if err := tx.PutEndpoint(store.EndpointState{Name: "codec-2", Type: "cisco", Room: "room-02@contoso.example", State: store.EndpointDegraded, Detail: "the codec refused the bookings: x"}); err != nil {
			return err
		}
		return tx.PutEndpoint(store.EndpointState{Name: "poly-1", Type: "poly", Room: "room-03@contoso.example", State: store.EndpointDown,
			Detail: "not polling", LastPoll: day.Add(-2 * time.Hour)})
	})
	// A meeting of the next day is not part of this day's report.
	s.emit(notJoined("room-01@contoso.example", "codec-1", "Tomorrow's", day.AddDate(0, 0, 1).Add(6*time.Hour), false))

	sub := s.st.Subscribe(Topic)
	defer sub.Close()
	s.clk.Set(day.AddDate(0, 0, 1).Add(6*time.Hour + 59*time.Minute))
	_, ok := s.latest()
	assert.False(t, ok, "no report before 07:00")
	s.clk.Advance(time.Minute)
	waitReport(t, sub)

	r, ok := s.latest()
	require.True(t, ok)
	assert.Equal(t, "2026-03-09", r.Day)
	assert.Equal(t, day.UTC(), r.From)
	assert.Equal(t, Rooms{Total: 3, Synced: 2, Failing: []FailingRoom{{Room: "room-03@contoso.example", Integration: "m365",
		Status: "policy_denied", Detail: "the app may not read this mailbox: add it to the management scope"}}}, r.Rooms)
	assert.Equal(t, 2, r.Cisco.Endpoints)
	assert.Equal(t, 2, r.Cisco.Pushes)
	assert.Equal(t, 1, r.Cisco.EndpointsOK)
	assert.Equal(t, 1, r.Cisco.PushFailures)
	require.Len(t, r.Cisco.Problems, 1)
	assert.Equal(t, "codec-2", r.Cisco.Problems[0].Name)
	assert.Equal(t, Poly{Endpoints: 1, Polled: 0, NotPolling: 1, Problems: []EndpointLine{{Name: "poly-1", Room: "room-03@contoso.example",
		State: store.EndpointDown, Detail: "not polling", Alarms: 1, LastPoll: ptr(day.Add(-2 * time.Hour).UTC())}}}, r.Poly)
	assert.Equal(t, []Integration{{Name: "m365", Type: "graph", Requests: 12_500, Budget: 1_000_000, Percent: 1.2}}, r.Integrations)
	assert.Equal(t, Meetings{Joined: 1, NotJoinedTotal: 2, NotJoined: []NotJoined{
		{Room: "room-02@contoso.example", Endpoint: "codec-2", Start: day.Add(11 * time.Hour).UTC(), Private: true, Platform: "MicrosoftTeams"},
		{Room: "room-01@contoso.example", Endpoint: "codec-1", Start: day.Add(14 * time.Hour).UTC(), Subject: "Quarterly review", Platform: "MicrosoftTeams"},
	}}, r.Meetings)
	assert.True(t, r.Coverage.Complete, r.Coverage.Note)

	var out bytes.Buffer
	require.NoError(t, r.Write(&out, oslo))
	assert.Contains(t, out.String(), "11:00  room-02@contoso.example  (private meeting)")
	assert.Contains(t, out.String(), "14:00  room-01@contoso.example  Quarterly review")
	assert.NotContains(t, out.String(), "Ada Lovelace", "a private meeting's subject never shows")
	assert.Contains(t, out.String(), "room-03@contoso.example  policy_denied: the app may not read this mailbox")
}

func ptr[T any](v T) *T { return &v }

func TestTheReportIsMadeOnceADayAtItsTimeAcrossRestarts(t *testing.T) {
	start := time.Date(2026, 3, 10, 6, 0, 0, 0, oslo)
	s := newSite(t, start)
	sub := s.st.Subscribe(Topic)
	defer sub.Close()
	stop := s.run(7*time.Hour+30*time.Minute, nil)
	s.clk.Set(time.Date(2026, 3, 10, 7, 29, 0, 0, oslo))
	_, ok := s.latest()
	assert.False(t, ok, "not before 07:30")
	s.clk.Advance(time.Minute)
	waitReport(t, sub)
	first, _ := s.latest()
	assert.Equal(t, "2026-03-09", first.Day)
	assert.Equal(t, time.Date(2026, 3, 10, 7, 30, 0, 0, oslo).UTC(), first.GeneratedAt)

	// A restart the same day does not make it again.
	stop()
	s.clk.Advance(30 * time.Minute)
	stop = s.run(7*time.Hour+30*time.Minute, nil)
	again, _ := s.latest()
	assert.Equal(t, first.ID, again.ID, "restarted at 08:00: the day's report is not made twice")
	assert.Equal(t, []time.Duration{23*time.Hour + 30*time.Minute}, s.clk.Pending(), "the next report is due tomorrow at 07:30")

	// Stopped over the next report's time: made at start, once, for the day before.
	stop()
	s.clk.Set(time.Date(2026, 3, 11, 9, 15, 0, 0, oslo))
	stop = s.run(7*time.Hour+30*time.Minute, nil)
	waitReport(t, sub)
	missed, _ := s.latest()
	assert.Equal(t, "2026-03-10", missed.Day, "the report missed while stopped is made at start, not skipped")
	assert.Equal(t, time.Date(2026, 3, 11, 9, 15, 0, 0, oslo).UTC(), missed.GeneratedAt)

	// And the next one comes the following morning, once.
	s.clk.Set(time.Date(2026, 3, 12, 7, 30, 0, 0, oslo))
	waitReport(t, sub)
	next, _ := s.latest()
	assert.Equal(t, "2026-03-11", next.Day)
	s.clk.Set(time.Date(2026, 3, 12, 12, 0, 0, 0, oslo))
	stop()
	select {
	case <-sub.C:
		t.Fatal("a second report the same day")
	default:
	}
	last, _ := s.latest()
	assert.Equal(t, next.ID, last.ID)
}

func TestEventsTrimmedBeforeTheyWereCountedMakeTheReportSayItsCountsAreLow(t *testing.T) {
	day := time.Date(2026, 3, 9, 8, 0, 0, 0, oslo)
	s := newSite(t, day)
	f := folder{st: s.st, loc: oslo}
	require.NoError(t, f.fold(context.Background(), s.clk.Now()))
	// A burst of 1,500 pushes between two folds: the log keeps only its newest ~1,000.
	s.write(func(tx *store.Tx) error {
		for range 1500 {
			if err := tx.Emit(store.Event{Kind: "push.ok", Room: "room-01@contoso.example", Endpoint: "codec-1", Message: "pushed"}); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, f.fold(context.Background(), s.clk.Now()))
	r, err := Compute(context.Background(), s.st, "oslo-hq", time.Date(2026, 3, 9, 0, 0, 0, 0, oslo), time.Date(2026, 3, 10, 0, 0, 0, 0, oslo), s.clk.Now(), nil)
	require.NoError(t, err)
	assert.False(t, r.Coverage.Complete)
	assert.Contains(t, r.Coverage.Note, "trimmed from the store's event log before they were counted")
	assert.Less(t, r.Cisco.Pushes, 1500)
	assert.Greater(t, r.Cisco.Pushes, 900)
}
