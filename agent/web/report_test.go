package web

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/report"
	"github.com/otj-edge/otj-edge/store"
)

// TestTheDailyReportPageAndAPI: before the first report the page and the API say when it
// comes; after it, the page lists the failing rooms and the meetings nobody joined (a
// private one without its subject), and GET /api/report answers the report as MQTT carries it.
func TestTheDailyReportPageAndAPI(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	code, body := f.get("/api/report")
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, body, "no daily report yet: the first one is made at 07:00 local time (report.time)")

	day := fixtureNow.In(oslo)
	start := time.Date(day.Year(), day.Month(), day.Day(), 14, 0, 0, 0, oslo)
	require.NoError(t, f.store.Write(t.Context(), func(tx *store.Tx) error {
		if err := tx.Emit(store.Event{Kind: "meeting.not_joined", Room: "room-a@example.com", Endpoint: "codec-a",
			Message: `booked but not joined: "Quarterly review"`,
			Data:    map[string]any{"start": start.UTC().Format(time.RFC3339), "platform": "MicrosoftTeams", "private": false}}); err != nil {
			return err
		}
		return tx.Emit(store.Event{Kind: "meeting.not_joined", Room: "room-b@example.com", Endpoint: "codec-b",
			Message: `booked but not joined: "Salary talks"`,
			Data:    map[string]any{"start": start.Add(time.Hour).UTC().Format(time.RFC3339), "platform": "Zoom", "private": true}})
	}))
	r, err := report.New(report.Options{Store: f.store, Site: f.cfg.Site, At: 7 * time.Hour, Location: oslo, Clock: f.clock})
	require.NoError(t, err)
	f.clock.Set(time.Date(day.Year(), day.Month(), day.Day()+1, 7, 0, 0, 0, oslo))
	require.NoError(t, r.MakeDue(t.Context()))

	code, body = f.get("/report")
	require.Equal(t, http.StatusOK, code, body)
	golden(t, "report.html", body)
	assert.Contains(t, body, "Quarterly review")
	assert.NotContains(t, body, "Salary talks", "a private meeting's subject never shows")

	code, body = f.get("/api/report")
	require.Equal(t, http.StatusOK, code, body)
	var got report.Report
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	want, _, err := report.Latest(t.Context(), f.store)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, 2, got.Meetings.NotJoinedTotal)
}
