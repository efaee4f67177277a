package poly

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/simulators/polysim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/process"
	"github.com/otj-edge/otj-edge/sync/rules"
)

// runService runs a service until stop (or the test's end) and waits until it listens; tweak
// (if any) adjusts it before it runs.
func runService(t *testing.T, opts Options, tweak ...func(*Service)) (svc *Service, stop func()) {
	t.Helper()
	svc, err := NewService(opts)
	require.NoError(t, err)
	for _, f := range tweak {
		f(svc)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			require.NoError(t, <-done)
		}
	}
	t.Cleanup(stop)
	select {
	case <-svc.Ready():
	case err := <-done:
		t.Fatalf("service stopped: %v", err)
	}
	return svc, stop
}

func shows(ep *polysim.Endpoint) []string {
	var out []string
	for _, m := range ep.Meetings() {
		out = append(out, m.Subject+"|"+m.DialString)
	}
	return out
}

// TestUnsyncedRoomKeepsWhatTheEndpointShows: a Poly endpoint shows its room's meetings; the
// agent restarts on a fresh store (moved aside) whose room has not synced yet. Until the
// room's first sync the endpoint is told "busy, retry" (HTTP 503, Retry-After, ErrorServerBusy),
// never an empty calendar, so it keeps showing its meetings; the endpoint's state says why.
// Once the first sync commits and the processor has resolved it (store.RoomResolved), the
// next poll shows the room's meetings.
func TestUnsyncedRoomKeepsWhatTheEndpointShows(t *testing.T) {
	f := newFixture(t)
	svc1, stop1 := runService(t, f.opts)
	addr := svc1.Addr()
	fl := f.fleet(svc1, nil)
	ep := fl.Endpoint("poly-a")
	require.NoError(t, ep.PollNow(t.Context()))
	before := shows(ep)
	require.Contains(t, before, "Weekly sync|8004711@vc.contoso.example", "the endpoint shows room A's meetings")
	stop1()

	// The same agent on a fresh store: the rooms are configured, nothing has synced.
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "fresh.db"), store.Options{Now: f.clk.Now})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		if err := tx.SyncRooms([]store.RoomRef{{Mailbox: roomA, Integration: "m365"}, {Mailbox: roomB, Integration: "m365"}}); err != nil {
			return err
		}
		return tx.SyncEndpoints([]store.EndpointRef{{Name: "poly-a", Type: "poly", Room: roomA}, {Name: "poly-b", Type: "poly", Room: roomB}})
	}))
	profile, err := rules.Compile(rules.Settings{}.WithDefaults(), nil)
	require.NoError(t, err)
	proc := process.New(process.Options{Store: st, Clock: f.clk, Rooms: map[string]*rules.Profile{roomA: profile, roomB: profile}})
	opts := f.opts
	opts.Listen, opts.Store = addr, st
	opts.Health = health.New(f.clk.Now)
	svc2, _ := runService(t, opts)

	for range 2 { // and again at the next poll
		f.clk.Advance(time.Minute)
		err = ep.PollNow(t.Context())
		require.Error(t, err)
		assert.Equal(t, before, shows(ep), "the endpoint keeps what it showed")
		assert.Equal(t, polysim.StateOffline, ep.Status().State, "a transient outage, not an error: %s", ep.Status().LastError)
		reqs := ep.Requests()
		assert.Equal(t, http.StatusServiceUnavailable, reqs[len(reqs)-1].Status)
	}

	// What a client that reads the answer finds: Retry-After and Exchange's busy fault.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+svc2.Addr()+"/EWS/Exchange.asmx",
		strings.NewReader(envelope(`<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>`)))
	require.NoError(t, err)
	req.SetBasicAuth(userA, passA)
	resp, err := f.client("").Do(req)
	require.NoError(t, err)
	body := readAll(t, resp)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "30", resp.Header.Get("Retry-After"))
	assert.Contains(t, body, ">ErrorServerBusy<")
	assert.Contains(t, body, `<t:Value Name="BackOffMilliseconds">30000</t:Value>`)

	row, _, err := st.Endpoint(t.Context(), "poly-a")
	require.NoError(t, err)
	assert.Equal(t, store.EndpointUp, row.State, "the endpoint polls: it is up")
	assert.Contains(t, row.Detail, "waiting for the room's first calendar sync")
	assert.Contains(t, healthOf(opts.Health, "poly/poly-a").Message, "waiting for the room's first calendar sync")

	// The first sync commits (events and last_success in one transaction, as sync/graph
	// writes a round's last page); the processor has not resolved it.
	now := f.clk.Now()
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		ev := calendar.Event{ID: "ev-new", ICalUID: "uid-new", Type: calendar.TypeSingleInstance, Subject: "Design review",
			Body:  &calendar.ItemBody{ContentType: "html", Content: `<p>Join: sip:review@vc.contoso.example</p>`},
			Start: calendar.FromTime(now.Add(2 * time.Hour)), End: calendar.FromTime(now.Add(3 * time.Hour)), ShowAs: "busy",
			Organizer: &calendar.Recipient{EmailAddress: calendar.EmailAddress{Name: "Ada Lovelace", Address: "ada@contoso.example"}}}
		if err := stored.PutEvent(tx, roomA, ev, nil); err != nil {
			return err
		}
		return tx.PutRoom(store.RoomState{Mailbox: roomA, Integration: "m365", Status: store.RoomOK, LastSuccess: now})
	}))
	// Between the sync's commit and the processor's pass the meetings table still says
	// nothing about the room: it is not served yet.
	f.clk.Advance(time.Minute)
	require.Error(t, ep.PollNow(t.Context()))
	assert.Equal(t, before, shows(ep), "the endpoint keeps what it showed until the sync is resolved")
	require.NoError(t, proc.ResolveRoom(t.Context(), roomA))
	f.clk.Advance(time.Minute)
	require.NoError(t, ep.PollNow(t.Context()))
	assert.Equal(t, polysim.StateOnline, ep.Status().State)
	assert.Equal(t, []string{"Design review|review@vc.contoso.example"}, shows(ep), "the meetings of the first sync")
	row, _, err = st.Endpoint(t.Context(), "poly-a")
	require.NoError(t, err)
	assert.Empty(t, row.Detail)
	assert.NotContains(t, healthOf(opts.Health, "poly/poly-a").Message, "waiting")

	// Room B never synced: still busy.
	err = fl.Endpoint("poly-b").PollNow(t.Context())
	require.Error(t, err)
	assert.Empty(t, fl.Endpoint("poly-b").Meetings())
}

// TestSyncedRoomWithoutMeetingsIsFree: a room that has synced and has no meetings is served
// as an empty calendar (the gate holds back only rooms that never synced).
func TestSyncedRoomWithoutMeetingsIsFree(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, f.st.Write(t.Context(), func(tx *store.Tx) error {
		_, err := stored.ReplaceMeetings(tx, roomA, nil)
		return err
	}))
	svc := f.start()
	ep := f.fleet(svc, nil).Endpoint("poly-a")
	require.NoError(t, ep.PollNow(t.Context()))
	assert.Equal(t, polysim.StateOnline, ep.Status().State)
	assert.Empty(t, ep.Meetings())
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
