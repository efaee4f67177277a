package graphsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPlaces: rooms and room lists as Graph's room and roomList resources (both cast forms),
// a list's rooms by address or place id, paging with @odata.nextLink, and 403
// ErrorAccessDenied in Graph's error JSON once Place.Read.All is revoked through the admin API.
func TestPlaces(t *testing.T) {
	s, _ := start(t, Options{})
	for _, m := range []string{"b-room@contoso.example", "a-room@contoso.example", "c-room@contoso.example"} {
		require.NoError(t, s.AddRoom(Room{Mailbox: m}))
	}
	admin := func(method, path string, body any) int {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, s.AdminURL()+path, bytes.NewReader(b))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusNoContent, admin("PUT", "/places/rooms/a-room@contoso.example",
		map[string]any{"capacity": 6, "building": "HQ", "floor_number": 2, "wheelchair_accessible": true}))
	require.Equal(t, http.StatusNoContent, admin("PUT", "/places/roomlists/hq@contoso.example",
		map[string]any{"display_name": "HQ rooms", "rooms": []string{"c-room@contoso.example", "a-room@contoso.example"}}))
	assert.Equal(t, http.StatusNotFound, admin("PUT", "/places/roomlists/x@contoso.example", map[string]any{"rooms": []string{"nope@contoso.example"}}))
	tok := token(t, s)

	a := get(t, s, tok, "/places/microsoft.graph.room?$top=2")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	page := values(a)
	require.Len(t, page, 2)
	assert.Equal(t, "#microsoft.graph.room", page[0]["@odata.type"])
	assert.Equal(t, "a-room@contoso.example", page[0]["emailAddress"])
	assert.Equal(t, "A Room", page[0]["displayName"])
	assert.EqualValues(t, 6, page[0]["capacity"])
	assert.Equal(t, "HQ", page[0]["building"])
	assert.EqualValues(t, 2, page[0]["floorNumber"])
	assert.Equal(t, true, page[0]["isWheelChairAccessible"])
	assert.Nil(t, page[1]["capacity"], "not set: null, as Graph sends it")
	assert.Len(t, page[0]["id"], 36, "a GUID")
	next, _ := a.body["@odata.nextLink"].(string)
	require.NotEmpty(t, next)
	a = get(t, s, tok, next)
	require.Len(t, values(a), 1)
	assert.Equal(t, "c-room@contoso.example", values(a)[0]["emailAddress"])
	assert.Nil(t, a.body["@odata.nextLink"], "the last page has no link")

	a = get(t, s, tok, "/places/graph.roomList")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	lists := values(a)
	require.Len(t, lists, 1)
	assert.Equal(t, "#microsoft.graph.roomList", lists[0]["@odata.type"])
	assert.Equal(t, "HQ rooms", lists[0]["displayName"])
	for _, key := range []string{"hq@contoso.example", lists[0]["id"].(string)} {
		a = get(t, s, tok, "/places/"+key+"/microsoft.graph.roomlist/rooms")
		require.Equal(t, http.StatusOK, a.status, a.raw)
		var got []any
		for _, r := range values(a) {
			got = append(got, r["emailAddress"])
		}
		assert.Equal(t, []any{"c-room@contoso.example", "a-room@contoso.example"}, got, "in the list's order")
	}
	assert.Equal(t, http.StatusNotFound, get(t, s, tok, "/places/none@contoso.example/microsoft.graph.roomlist/rooms").status)

	require.Equal(t, http.StatusNoContent, admin("PUT", "/app/roles", map[string]any{"roles": []string{}}))
	a = get(t, s, tok, "/places/microsoft.graph.room")
	assert.Equal(t, http.StatusForbidden, a.status)
	assert.Equal(t, "ErrorAccessDenied", errCode(a))
	e := a.body["error"].(map[string]any)
	assert.Equal(t, "Access is denied. Check credentials and try again.", e["message"])
	assert.Contains(t, e["innerError"], "request-id")
	assert.Equal(t, []string{}, s.AppRoles())
	assert.Equal(t, http.StatusOK, get(t, s, tok, "/users/a-room@contoso.example/calendarView?startDateTime=2026-01-01&endDateTime=2026-01-02").status,
		"calendars do not need Place.Read.All")
}
