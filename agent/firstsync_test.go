package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// waitEndpoint waits until the agent's store says ok about an endpoint.
func (e *e2e) waitEndpoint(name string, ok func(store.EndpointState) bool) store.EndpointState {
	e.t.Helper()
	sub := e.agent.store.Subscribe(store.TopicEndpoints)
	defer sub.Close()
	deadline := time.After(45 * time.Second)
	for {
		st, _, err := e.agent.store.Endpoint(context.Background(), name)
		require.NoError(e.t, err)
		if ok(st) {
			return st
		}
		select {
		case <-sub.C:
			sub.Take()
		case <-deadline:
			e.t.Fatalf("endpoint %s: still %s: %s\n%s", name, st.State, st.Detail, e.logs)
		}
	}
}

// TestAFreshStoreNeverClearsABookedCodec: the agent starts on an empty store (a first start,
// or the old one moved aside) while Microsoft 365 cannot be reached. The codecs hold the
// bookings an earlier store pushed; they keep them, and their state says why nothing is
// pushed. Once the rooms sync, the right bookings land.
func TestAFreshStoreNeverClearsABookedCodec(t *testing.T) {
	e := newE2E(t)
	codec0 := e.f.Cisco[0].Name
	base := time.Now().UTC().Truncate(time.Hour).Add(2 * time.Hour)
	at := func(h int) map[string]string {
		return map[string]string{"dateTime": base.Add(time.Duration(h) * time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"}
	}
	e.postEvent(e.room(0), map[string]any{"subject": "Vendor VMR", "body": map[string]string{"contentType": "html", "content": "<p>Please join: sip:4455@vmr.example.com</p>"},
		"start": at(1), "end": at(2), "organizer": map[string]any{"emailAddress": map[string]string{"name": "Ada Berg", "address": "ada.berg@contoso.example"}}})
	earlier := `{"Bookings":[{"Id":"from-the-old-store","Title":"Booked yesterday","Organizer":{"Name":"Ada Berg"},
		"Time":{"StartTime":"` + base.Format("2006-01-02T15:04:05Z") + `","Duration":30},"Number":"77@vmr.example.com","Protocol":"SIP"}]}`
	e.call(http.MethodPost, e.f.CiscoAdmin+"/codecs/"+codec0+"/foreign-put", json.RawMessage(earlier), nil)
	before := e.bookings(codec0)
	require.Len(t, before, 1)

	// Microsoft 365 is out of reach.
	e.call(http.MethodPost, e.f.Graph.Admin+"/faults", map[string]any{"kind": "token", "status": 503}, nil)
	e.start()
	st := e.waitEndpoint(codec0, func(s store.EndpointState) bool { return s.State == store.EndpointWaiting || !s.LastPush.IsZero() })
	assert.Equal(t, store.EndpointWaiting, st.State, st.Detail)
	assert.Contains(t, st.Detail, "waiting for the room's first sync")
	assert.Equal(t, before, e.bookings(codec0), "the codec keeps its bookings")
	var stats struct{ Requests map[string]int }
	e.call(http.MethodGet, e.f.CiscoAdmin+"/codecs/"+codec0+"/stats", nil, &stats)
	assert.Zero(t, stats.Requests["xCommand/Bookings/Clear"], "no Clear")
	assert.Zero(t, stats.Requests["xCommand/Bookings/Put"], "no Put")

	// An operator's push leaves it alone too, and says why.
	code, out, errOut := runCLI(t, nil, "push", "--config", e.f.Agent.Config, codec0)
	assert.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "push to "+codec0+": nothing pushed, waiting for the room's first sync")
	assert.Equal(t, before, e.bookings(codec0))

	// A restart while Microsoft 365 is still away changes nothing either. Then it is back:
	// the room syncs as the agent starts (a fresh start has no token backoff to wait out) and
	// its bookings replace the old ones.
	e.stop()
	e.start()
	again := e.waitEndpoint(codec0, func(s store.EndpointState) bool {
		return s.LastContact.After(st.LastContact) && (s.State == store.EndpointWaiting || !s.LastPush.IsZero())
	})
	assert.Equal(t, store.EndpointWaiting, again.State, again.Detail)
	assert.Equal(t, before, e.bookings(codec0), "the codec keeps its bookings across the restart")
	e.stop()
	e.call(http.MethodDelete, e.f.Graph.Admin+"/faults", nil, nil)
	e.start()
	eventually(t, "codec 0 after the first sync", []string{
		"Vendor VMR|4455@vmr.example.com|SIP|Other|" + base.Add(time.Hour).Format("2006-01-02T15:04:05Z") + "|60",
	}, func() []string { return e.bookings(codec0) })
	// The booking the codec held is not one of this room's meetings: whether the codec
	// connected before or after the room's first sync, it is reported as another system's.
	final := e.waitEndpoint(codec0, func(s store.EndpointState) bool { return s.State != store.EndpointWaiting && !s.LastPush.IsZero() })
	assert.Equal(t, store.EndpointDegraded, final.State, final.Detail)
	assert.Contains(t, final.Detail, "from-the-old-store")
}

// TestAStoreThatSyncedBeforePushesAtOnceWithoutNetwork: a store whose rooms synced before —
// here one written before the room_resolved mark existed, as an upgraded store is — pushes
// the stored meetings right after a start with Microsoft 365 out of reach.
func TestAStoreThatSyncedBeforePushesAtOnceWithoutNetwork(t *testing.T) {
	f := simFleet(t)
	room := "room-1@example.com"
	codec := addSimCodec(t, f, "codec-1", ciscosim.CodecConfig{})
	cfg := offlineCiscoSite(t, "off", room, codec, codecPassword)
	storeSyncedRoom(t, cfg, room)
	_, logs := runTestAgent(t, cfg)
	deadline := time.After(30 * time.Second)
	for {
		sig := codec.PutSignal()
		if puts := codec.Puts(); len(puts) > 0 {
			require.True(t, puts[0].Accepted)
			break
		}
		select {
		case <-sig:
		case <-deadline:
			t.Fatalf("nothing pushed\n%s", logs)
		}
	}
	require.Len(t, codec.Bookings(), 1)
	assert.Equal(t, "Vendor VMR", codec.Bookings()[0].Title)
	assert.Equal(t, "4455@vmr.example.com", codec.Bookings()[0].Number)
	assert.Zero(t, codec.Stats().Requests["xCommand/Bookings/Clear"])
}

// offlineCiscoSite is a config with one codec (codec-1 in room, with password) whose Graph
// token endpoint nobody answers, and the status page on listen.
func offlineCiscoSite(t *testing.T, listen, room string, codec *ciscosim.Codec, password string) *config.Config {
	t.Helper()
	yaml := testSiteHead(listen, "https://127.0.0.1:1/contoso/oauth2/v2.0/token", "") + "  - name: default\nendpoints:\n" +
		"  - name: codec-1\n    type: cisco\n    room: " + room + "\n    address: " + codec.URL() + "\n    username: otj\n    password: " + password + "\n"
	cfg, err := loadConfig(writeTestConfig(t, "", yaml), IO{Env: os.LookupEnv})
	require.NoError(t, err)
	return cfg
}

// storeSyncedRoom writes what an earlier run left in the store: the room synced an hour ago
// with one event (no room_resolved mark: a store from before the mark existed).
func storeSyncedRoom(t *testing.T, cfg *config.Config, room string) {
	t.Helper()
	st, err := store.Open(t.Context(), cfg.DBPath(), store.Options{})
	require.NoError(t, err)
	start := time.Now().UTC().Truncate(time.Minute).Add(time.Hour)
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		if err := tx.SyncRooms([]store.RoomRef{{Mailbox: room, Integration: "m365"}}); err != nil {
			return err
		}
		if err := tx.PutRoom(store.RoomState{Mailbox: room, Integration: "m365", Status: store.RoomOK,
			LastSuccess: time.Now().Add(-time.Hour)}); err != nil {
			return err
		}
		return stored.PutEvent(tx, room, calendar.Event{ID: "e1", ICalUID: "uid-e1", Type: calendar.TypeSingleInstance, Subject: "Vendor VMR",
			Body:  &calendar.ItemBody{ContentType: "html", Content: "<p>Join: sip:4455@vmr.example.com</p>"},
			Start: calendar.FromTime(start), End: calendar.FromTime(start.Add(30 * time.Minute)), ShowAs: "busy",
			Organizer: &calendar.Recipient{EmailAddress: calendar.EmailAddress{Name: "Ada Berg", Address: "ada@example.com"}}}, nil)
	}))
	require.NoError(t, st.Close())
}

// runTestAgent runs the agent on cfg until the test ends and returns it and its logs.
func runTestAgent(t *testing.T, cfg *config.Config) (*Agent, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	a := New(cfg, Options{Logger: NewLogger(logs, "text", "debug", SecretsOf(cfg), nil)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	select {
	case <-a.Ready():
	case err := <-done:
		t.Fatalf("agent stopped at start: %v\n%s", err, logs)
	}
	logs.waitLog(t, 0, serving(cfg)...)
	return a, logs
}

// serving is what the agent logs once its listeners serve. Ready means every part has started,
// not that they listen: the status page writes the API token the CLI needs (push, retry) just
// before its line, and Poly endpoints polling before the calendar service's line are refused.
func serving(cfg *config.Config) []string {
	var lines []string
	if cfg.Status.Listen != "" {
		lines = append(lines, "status page listening")
	}
	if cfg.HasPoly() {
		lines = append(lines, "ews: calendar service listening")
	}
	return lines
}
