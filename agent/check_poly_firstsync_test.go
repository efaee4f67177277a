package agent

import (
	"bytes"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/polysim"
)

// TestPolyKeepsMeetingsUntilFirstSync: a Poly endpoint shows its room's meetings; the agent
// restarts on a moved-aside (empty) store while Microsoft 365 cannot be reached. Until the
// room's first sync the endpoint keeps showing what it showed (the calendar service does not
// tell it the room is free); once Microsoft 365 is back and the room syncs, it shows the
// room's meetings as they are now.
func TestPolyKeepsMeetingsUntilFirstSync(t *testing.T) {
	e := newE2E(t)
	require.Len(t, e.f.Poly, 1)
	poly, room := e.f.Poly[0].Name, e.room(2)

	base := time.Now().UTC().Truncate(time.Hour).Add(2 * time.Hour)
	invite := func(subject, html string, h int) map[string]any {
		start, end := base.Add(time.Duration(h)*time.Hour), base.Add(time.Duration(h)*time.Hour+30*time.Minute)
		return map[string]any{"subject": subject, "body": map[string]string{"contentType": "html", "content": html},
			"start":     map[string]string{"dateTime": start.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
			"end":       map[string]string{"dateTime": end.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
			"organizer": map[string]any{"emailAddress": map[string]string{"name": "Ada Berg", "address": "ada.berg@contoso.example"}}}
	}
	e.postEvent(room, invite("Board call", `<p>Video: sip:board@vc.contoso.example</p>`, 0))
	board := "Board call|" + base.Format(time.RFC3339) + "|board@vc.contoso.example|true"

	e.start()
	eventually(t, "poly meetings", []string{board}, func() []string { return e.polyShows(poly) })
	e.stop()

	// Microsoft 365 is unreachable, a meeting is booked meanwhile, and the store is moved
	// aside: the agent starts knowing nothing about the room.
	e.call(http.MethodPost, e.f.Graph.Admin+"/faults", map[string]any{"kind": "token", "status": 503}, nil)
	e.postEvent(room, invite("Design review", `<p>Join: sip:review@vc.contoso.example</p>`, 2))
	db := e.cfg.DBPath()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Rename(db+suffix, db+suffix+".aside"); err != nil {
			require.ErrorIs(t, err, os.ErrNotExist)
		}
	}
	e.start()
	for range 2 {
		assert.Equal(t, []string{board}, e.polyShows(poly), "before the room's first sync the endpoint keeps its meetings")
	}
	var st polysim.Status
	e.call(http.MethodGet, e.f.PolyAdmin+"/endpoints/"+poly+"/meetings", nil, &st)
	assert.Equal(t, polysim.StateOffline, st.State, st.LastError)
	assert.Contains(t, st.LastError, "HTTP 503")
	row, _, err := e.agent.store.Endpoint(t.Context(), poly)
	require.NoError(t, err)
	assert.Contains(t, row.Detail, "waiting for the room's first calendar sync")

	// `check` explains the endpoint's OFFLINE calendar by the missing first sync.
	var out bytes.Buffer
	checkPoly(t.Context(), e.cfg, &out)
	assert.Contains(t, out.String(), "reports its calendaring as OFFLINE: expected until room "+room+" has synced its calendar once")

	// Microsoft 365 is back: the room syncs, and the endpoint shows both meetings.
	e.call(http.MethodDelete, e.f.Graph.Admin+"/faults", nil, nil)
	require.NoError(t, e.agent.Sync(t.Context(), room, false))
	eventually(t, "poly meetings after the first sync", []string{
		board,
		"Design review|" + base.Add(2*time.Hour).Format(time.RFC3339) + "|review@vc.contoso.example|true",
	}, func() []string { return e.polyShows(poly) })
	row, _, err = e.agent.store.Endpoint(t.Context(), poly)
	require.NoError(t, err)
	assert.NotContains(t, row.Detail, "waiting")
}
