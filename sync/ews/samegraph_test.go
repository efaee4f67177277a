package ews

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/graph"
	"github.com/otj-edge/otj-edge/sync/process"
	"github.com/otj-edge/otj-edge/sync/rules"
)

// The resolved meetings of a room must be the same whether it is read through EWS or Graph
// (issue 17). ewssim serves graphsim's calendars, so a test can read the same rooms through
// the Graph source too and compare what the processor makes of both.

// resolved runs the meeting processor (sync/process, with a Teams and a Zoom rule) over the
// rooms of st and returns their meetings without the source's own ids (EWS ItemIds are not
// Graph ids; the booking id, iCalUId and everything shown are compared).
func (h *simHarness) resolved(st *store.Store, rooms ...string) map[string][]calendar.Meeting {
	h.t.Helper()
	prof, err := rules.Compile(rules.Settings{}.WithDefaults(), []rules.Spec{
		{Name: "teams", Type: rules.TypeTeams, Priority: 10}, {Name: "zoom", Type: rules.TypeZoom, Priority: 20}})
	require.NoError(h.t, err)
	profiles := map[string]*rules.Profile{}
	for _, r := range rooms {
		profiles[r] = prof
	}
	p := process.New(process.Options{Store: st, Clock: h.clk, Rooms: profiles})
	out := map[string][]calendar.Meeting{}
	for _, r := range rooms {
		require.NoError(h.t, p.ResolveRoom(context.Background(), r))
		ms, err := stored.Meetings(context.Background(), st, r, h.clk.Now().AddDate(0, 0, -30), h.clk.Now().AddDate(0, 0, 30))
		require.NoError(h.t, err)
		for i := range ms {
			ms[i].EventID, ms[i].SeriesMasterID = "", ""
		}
		out[r] = ms
	}
	return out
}

// graphMeetings reads the rooms through the Graph source from the same graphsim, into a
// store of its own, from scratch, and resolves them.
func (h *simHarness) graphMeetings(rooms ...string) map[string][]calendar.Meeting {
	h.t.Helper()
	st := h.openStore(filepath.Join(h.t.TempDir(), "graph.db"))
	var specs []graph.RoomSpec
	for _, r := range rooms {
		specs = append(specs, graph.RoomSpec{Mailbox: r, UpcomingDays: 7})
	}
	in := graph.Integration{Name: "m365", ClientID: h.gs.ClientID(), ClientSecret: secret.New(h.gs.ClientSecret()),
		TokenURL: h.gs.TokenURL(), GraphURL: h.gs.GraphURL(), MaxRequestsPerDay: graph.DefaultMaxRequestsPerDay,
		MaxInFlight: graph.DefaultMaxInFlight, CAFile: h.caFile}
	s, err := graph.New(graph.Options{Integration: in, Rooms: specs, Store: st, Clock: h.clk, Tuning: graph.Tuning{Seed: 1, Linger: -1},
		Logger: slog.New(slog.NewTextHandler(h.t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	require.NoError(h.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	sub := st.Subscribe(store.TopicRooms)
	defer sub.Close()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for !allSynced(st, "m365", rooms) {
		select {
		case <-sub.C:
		case <-deadline.C:
			h.t.Fatal("the Graph source did not sync the rooms")
		}
	}
	cancel()
	require.NoError(h.t, <-done)
	return h.resolved(st, rooms...)
}

func allSynced(st *store.Store, integration string, rooms []string) bool {
	for _, m := range rooms {
		r, ok, err := st.Room(context.Background(), m)
		if err != nil || !ok || r.Status != store.RoomOK {
			return false
		}
		if c, err := st.Cursor(context.Background(), m, integration); err != nil || c == "" {
			return false
		}
	}
	return true
}

// sameAsGraph asserts the EWS store's rooms resolve to the meetings the Graph source gives.
func (h *simHarness) sameAsGraph(rooms ...string) {
	h.t.Helper()
	want, got := h.graphMeetings(rooms...), h.resolved(h.st, rooms...)
	for _, r := range rooms {
		require.NotEmpty(h.t, want[r], "the Graph source resolved meetings in %s", r)
		require.Equal(h.t, want[r], got[r], "room %s: EWS and Graph resolve to the same meetings", r)
	}
}
