package ews

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/simulators/ewssim"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/source"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// TestFirstSyncAgainstEwssimStoresTheRoomsMeetings runs the source against ewssim (in
// process, TLS, NTLM, impersonation) with a fake clock: a meeting posted to the shared
// calendar model is in the store after the first sync, with its subject and times.
func TestFirstSyncAgainstEwssimStoresTheRoomsMeetings(t *testing.T) {
	clk := clock.NewFake(t0)
	gs, err := graphsim.New(graphsim.Options{Now: clk.Now})
	require.NoError(t, err)
	require.NoError(t, gs.Start())
	t.Cleanup(gs.Close)
	room := "room1@" + gs.TenantDomain()
	p := graphsim.Recommended()
	require.NoError(t, gs.AddRoom(graphsim.Room{Mailbox: room, Processing: &p}))
	_, err = gs.PostEvent(room, map[string]any{"subject": "Board", "start": map[string]any{"dateTime": "2026-11-23T10:00:00", "timeZone": "UTC"},
		"end": map[string]any{"dateTime": "2026-11-23T11:00:00", "timeZone": "UTC"}, "organizer": map[string]any{"emailAddress": map[string]any{"address": "ada@" + gs.TenantDomain()}}})
	require.NoError(t, err)
	es, err := ewssim.New(ewssim.Options{Calendar: gs})
	require.NoError(t, err)
	require.NoError(t, es.Start())
	t.Cleanup(es.Close)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "db"), store.Options{Now: clk.Now})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	s, err := New(Options{Integration: Integration{Name: "onprem", URL: es.EWSURL(), Username: es.Domain() + `\` + ewssim.DefaultUser,
		Password: secret.New(ewssim.DefaultPassword)}, Rooms: []source.Room{{Mailbox: room, UpcomingDays: 7}}, Store: st, Clock: clk,
		Health: health.New(clk.Now), HTTPClient: es.HTTPClient(), Tuning: Tuning{Seed: 1},
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	sub := st.Subscribe(store.TopicRooms)
	defer sub.Close()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		r, _, _ := st.Room(context.Background(), room)
		if r.Status == store.RoomOK || r.Status != store.RoomPending && r.Status != "" {
			require.Equal(t, store.RoomOK, r.Status, r.StatusDetail)
			break
		}
		select {
		case <-sub.C:
		case <-deadline.C:
			t.Fatal("no first sync")
		}
	}
	evs, err := stored.Events(context.Background(), st, room)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, "Board", evs[0].Subject)
	start, _ := evs[0].StartTime()
	require.Equal(t, time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), start)
	require.Equal(t, "ews", s.Stats().Type)
	require.Positive(t, s.Stats().UsedToday)
}
