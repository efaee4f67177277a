package ews

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/ewssim"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/exchange"
)

// TestReadRoomsGetTheCalendarProcessingDiagnosis: after a read, an EWS room whose meetings
// show the organizer's name as their subject and have no body gets those findings (with their
// Set-CalendarProcessing fixes) from the events stored as EWS gave them, by the same diagnosis
// as Graph's rooms (the agent's, once the processor has resolved the room: diagnose below); a
// room with ordinary meetings gets none.
func TestReadRoomsGetTheCalendarProcessingDiagnosis(t *testing.T) {
	stripped, fine := simRoom(1), simRoom(2)
	h := newSimHarness(t, ewssim.Options{}, stripped, fine)
	for i := range 5 {
		at := t0.Add(time.Duration(i+1) * time.Hour)
		ev := invite("Alice Berg", at, 30*time.Minute) // AddOrganizerToSubject + DeleteComments
		ev["body"] = map[string]any{"contentType": "html", "content": "<html><body></body></html>"}
		h.post(stripped, ev)
		h.post(fine, invite("Design review", at, 30*time.Minute))
	}
	s, _ := h.start(Tuning{})
	h.waitFor("both rooms synced", h.synced(stripped, fine))
	h.settle(s)
	for _, m := range []string{stripped, fine} {
		evs, err := stored.Events(context.Background(), h.st, m)
		require.NoError(t, err)
		_, err = exchange.Save(context.Background(), h.st, h.room(m), true, evs)
		require.NoError(t, err)
	}

	flags := map[string]string{}
	for _, f := range h.room(stripped).Diagnosis {
		flags[f.Flag] = f.Fix
	}
	require.Contains(t, flags, exchange.FlagAddOrganizerToSubject)
	require.Contains(t, flags, exchange.FlagDeleteComments)
	assert.Equal(t, "Set-CalendarProcessing -Identity "+stripped+" -AddOrganizerToSubject $false -DeleteSubject $false", flags[exchange.FlagAddOrganizerToSubject])
	assert.Empty(t, h.room(fine).Diagnosis)
	assert.Len(t, h.recentEvents(exchange.EventDiagnosis), len(h.room(stripped).Diagnosis), "one sync.diagnosis event per finding")
}
