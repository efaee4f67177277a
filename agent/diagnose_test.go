package agent

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/simulators/sim"
	"github.com/otj-edge/otj-edge/sync/exchange"
)

// TestExchangeRoomsAreDiagnosedFromTheResolvedEvents: a Graph room whose invites show the
// organizer's name as their subject and arrive without a body gets those calendar processing
// findings and one sync.diagnosis event each, naming its integration, once the processor has
// resolved it (the Graph source no longer reads the events again for it). Clean rooms getting
// none is sync/graph's TestDiagnosis and sync/exchange's tests.
func TestExchangeRoomsAreDiagnosedFromTheResolvedEvents(t *testing.T) {
	e := newE2E(t)
	base := time.Now().UTC().Truncate(time.Hour).Add(2 * time.Hour)
	slot := func(h int) map[string]string {
		return map[string]string{"dateTime": base.Add(time.Duration(h) * time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"}
	}
	for h := range 6 {
		e.postEvent(e.room(0), map[string]any{"subject": "Ada Berg", "body": map[string]string{"contentType": "html", "content": ""},
			"start": slot(h), "end": slot(h + 1),
			"organizer": map[string]any{"emailAddress": map[string]string{"name": "Ada Berg", "address": "ada.berg@contoso.example"}}})
	}
	e.start()
	flags := func(room string) []string {
		st, _, err := e.agent.store.Room(t.Context(), room)
		require.NoError(t, err)
		var out []string
		for _, f := range st.Diagnosis {
			out = append(out, f.Flag)
		}
		return out
	}
	want := []string{exchange.FlagAddOrganizerToSubject, exchange.FlagDeleteComments}
	require.Eventually(t, func() bool { return len(flags(e.room(0))) == len(want) }, 30*time.Second, 20*time.Millisecond,
		"room 0's findings")
	assert.Equal(t, want, flags(e.room(0)))

	evs, err := e.agent.store.RecentEvents(t.Context(), 200)
	require.NoError(t, err)
	var found []string
	for _, ev := range evs {
		if ev.Kind == exchange.EventDiagnosis {
			assert.Equal(t, e.room(0), ev.Room)
			assert.Equal(t, sim.GraphIntegration, ev.Data["integration"])
			found = append(found, ev.Data["flag"].(string))
		}
	}
	assert.ElementsMatch(t, want, found, "one event per finding")
}

// The Exchange doors (Graph, EWS) are diagnosed; Google's calendars have no calendar
// processing to diagnose, and a room moved there loses its old findings (exchange.Save).
func TestTheExchangeSourcesAreTheDiagnosedOnes(t *testing.T) {
	for typ, want := range map[string]bool{config.IntegrationGraph: true, config.IntegrationEWS: true, config.IntegrationGoogle: false} {
		row, ok := sourceTypes[typ]
		require.True(t, ok, typ)
		assert.Equal(t, want, row.exchange, typ)
	}
}
