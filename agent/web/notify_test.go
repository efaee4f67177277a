package web

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOverviewShowsChangeNotifications: a source with change notifications shows, under the
// calendar sources, how many rooms are subscribed (a warning badge while some are not),
// what came in and the last subscription error; /api/status carries the same block, and a
// source that only polls has none (the golden fixture).
func TestOverviewShowsChangeNotifications(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.agent.sources = []SourceStats{{Type: "graph", Name: "m365", RequestsToday: 41250, Budget: 1000000, Projected24h: 99000,
		Notifications: &SourceNotifications{Rooms: 3, Live: 2, Received: 17, Ignored: 1, Lifecycle: 2, Failures: 4,
			LastError: "create subscription for room-c@example.com: ValidationError: Subscription validation request failed (Graph could not reach notifications_url through the reverse proxy, or the listener did not answer)"}}}

	code, body := f.get("/")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `Change notifications for m365: <span class="badge warn">2 of 3 rooms subscribed</span>;`)
	assert.Contains(t, body, "17 received, 1 ignored (not ours), 2 lifecycle, 4 failed subscription calls. Last error: create subscription for room-c@example.com: ValidationError")

	code, body = f.get("/api/status")
	require.Equal(t, http.StatusOK, code)
	var doc struct {
		Sources []map[string]json.RawMessage `json:"sources"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &doc))
	require.Len(t, doc.Sources, 1)
	assert.JSONEq(t, `{"rooms":3,"live":2,"received":17,"ignored":1,"lifecycle":2,"failures":4,
		"last_error":"create subscription for room-c@example.com: ValidationError: Subscription validation request failed (Graph could not reach notifications_url through the reverse proxy, or the listener did not answer)"}`,
		string(doc.Sources[0]["notifications"]))

	// All subscribed: no warning.
	f.agent.sources[0].Notifications = &SourceNotifications{Rooms: 3, Live: 3}
	_, body = f.get("/")
	assert.Contains(t, body, "Change notifications for m365: 3 of 3 rooms subscribed;")
	assert.NotContains(t, body, "Last error")
}

// TestOverviewShowsChangeProbe: a source with the change probe on shows how many rooms it
// watches (a warning badge while some are not) and what it found; /api/status carries the
// same block.
func TestOverviewShowsChangeProbe(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.agent.sources = []SourceStats{{Type: "graph", Name: "m365", RequestsToday: 41250, Budget: 1000000, Projected24h: 850000,
		Probe: &SourceProbe{Enabled: true, Rooms: 3, Live: 2, DetailsVisible: 1, Requests: 1200, Changes: 7, Failures: 1,
			LastError: "getSchedule: TooManyRequests: Please retry again later."}}}
	code, body := f.get("/")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `Change probe for m365: <span class="badge warn">2 of 3 rooms watched</span>, subjects visible in 1;`)
	assert.Contains(t, body, "1200 requests, 7 changes found, 1 failed. Last error: getSchedule: TooManyRequests")

	code, body = f.get("/api/status")
	require.Equal(t, http.StatusOK, code)
	var doc struct {
		Sources []map[string]json.RawMessage `json:"sources"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &doc))
	require.Len(t, doc.Sources, 1)
	assert.JSONEq(t, `{"enabled":true,"rooms":3,"live":2,"details_visible":1,"unavailable":0,"requests":1200,"changes":7,"failures":1,
		"last_error":"getSchedule: TooManyRequests: Please retry again later."}`, string(doc.Sources[0]["probe"]))
}
