package graph

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/exchange"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A cold start diagnoses its rooms once every never-synced room's first step has ended, not
// after each room's round (the diagnosis decodes a room's events again, on cores the cold
// start keeps busy); a warm start diagnoses at once.
func TestAColdStartDiagnosesOnceEveryColdRoomHasStepped(t *testing.T) {
	a, b := roomName(1), roomName(2)
	h := newHarness(t, graphsim.Options{}, a, b)
	noBody := graphsim.Recommended()
	noBody.DeleteComments = true
	_, err := h.sim.Load(graphsim.Scenario{Rooms: []string{a, b}, Meetings: 20, Seed: 3, Now: t0,
		Processing: map[string]graphsim.Processing{a: noBody}})
	require.NoError(t, err)
	_, stop := h.start(Tuning{}) // a first run stores both rooms' events
	h.waitFor("both rooms", h.synced(a, b))
	h.waitFor("a's diagnosis", func() bool { return len(h.room(a).Diagnosis) > 0 })
	stop()

	ctx := context.Background()
	forget := func() { // the stored diagnosis, so that the next one is written again
		require.NoError(t, h.st.Write(ctx, func(tx *store.Tx) error {
			st, _, err := tx.Room(a)
			if err != nil {
				return err
			}
			st.Diagnosis = nil
			return tx.PutRoom(st)
		}))
	}
	diagnosed := func() []string {
		var flags []string
		for _, f := range h.room(a).Diagnosis {
			flags = append(flags, f.Flag)
		}
		return flags
	}
	syncer := func(cold bool) *Syncer { // one that has loaded the store, as Run does
		forget()
		s, err := New(Options{Integration: h.in, Rooms: h.rooms, Store: h.st, Clock: h.clk, Health: h.health, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		require.NoError(t, s.load(ctx))
		if cold { // as a new store has them
			s.rooms[a].state.LastSuccess, s.rooms[b].state.LastSuccess = time.Time{}, time.Time{}
		}
		s.startCold()
		return s
	}

	s := syncer(true)
	s.refresh(ctx, s.rooms[a]) // a's first round is done, b's first step has not ended
	assert.Empty(t, diagnosed(), "not while a cold room has not been read")
	assert.Empty(t, s.endColdStep(s.rooms[a]), "b has not stepped yet")
	later := s.endColdStep(s.rooms[b])
	require.Len(t, later, 1, "the last cold room's step hands over the waiting diagnoses")
	for _, r := range later {
		s.diagnose(ctx, r)
	}
	assert.Equal(t, []string{exchange.FlagDeleteComments}, diagnosed())

	s = syncer(false)
	s.refresh(ctx, s.rooms[a])
	assert.Equal(t, []string{exchange.FlagDeleteComments}, diagnosed(), "a warm start diagnoses at once")
}
