package webexsim

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var nextLink = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// Devices page with max/start and a Link rel="next" that a client follows to the end.
func TestDevicesPageWithLinkHeaders(t *testing.T) {
	e := start(t, 5, nil)
	tok := e.token()
	var got []string
	u := e.s.APIURL() + "/devices?max=2"
	pages := 0
	for u != "" {
		r := e.do("GET", u, tok, nil, "")
		if r.status != 200 {
			t.Fatalf("page: %d %s", r.status, r.raw)
		}
		pages++
		for _, it := range r.body["items"].([]any) {
			got = append(got, it.(map[string]any)["id"].(string))
		}
		u = ""
		if l := r.header.Get("Link"); l != "" {
			m := nextLink.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("Link %q", l)
			}
			u = m[1]
		}
	}
	if pages != 3 || strings.Join(got, ",") != strings.Join(e.ids, ",") {
		t.Fatalf("%d pages, ids %v, want %v", pages, got, e.ids)
	}
	webexError(t, e.get("/devices?max=0", tok), 400)
}

func TestDeviceFieldsAndFilters(t *testing.T) {
	e := start(t, 3, nil)
	tok := e.token()
	_ = e.s.SetConnectionStatus(e.ids[1], OfflineExpired)
	_ = e.s.SetPermissions(e.ids[2], []string{PermXAPIReadonly})
	r := e.get("/devices/"+e.ids[0], tok)
	d := r.body
	if r.status != 200 || d["displayName"] != "Room 1 Bar" || d["connectionStatus"] != "connected" || d["type"] != "roomdesk" ||
		d["software"] != "RoomOS 11.14.4.0 7e5b2c4d1f0" || d["capabilities"].([]any)[0] != "xapi" || d["permissions"].([]any)[0] != "xapi:all" ||
		d["workspaceId"] == "" || d["orgId"] == "" {
		t.Fatalf("device: %s", r.raw)
	}
	count := func(q string) int {
		r := e.get("/devices?"+q, tok)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", q, r.status, r.raw)
		}
		return len(r.body["items"].([]any))
	}
	ws := d["workspaceId"].(string)
	for q, want := range map[string]int{
		"displayName=" + url.QueryEscape("Room 2 Bar"): 1, "workspaceId=" + ws: 1, "connectionStatus=connected": 2,
		"connectionStatus=offline_expired": 1, "permission=xapi:readonly": 1, "capability=xapi": 3, "type=roomdesk": 3,
		"product=" + url.QueryEscape("Cisco Room Bar"): 3, "tag=lobby": 0,
	} {
		if n := count(q); n != want {
			t.Errorf("%s: %d devices, want %d", q, n, want)
		}
	}
	webexError(t, e.get("/devices/nope", tok), 404)
	webexError(t, e.get("/devices?connectionStatus=asleep", tok), 400)
	// Without a devices scope: 403.
	pair := e.s.IssueTokens([]string{ScopeXAPICommands})
	webexError(t, e.get("/devices", pair.AccessToken), 403)
}

func TestWorkspacesCarryTheCalendarAddress(t *testing.T) {
	e := start(t, 2, nil)
	tok := e.token()
	r := e.get("/workspaces?displayName=Room%202", tok)
	items := r.body["items"].([]any)
	if r.status != 200 || len(items) != 1 {
		t.Fatalf("workspaces: %d %s", r.status, r.raw)
	}
	w := items[0].(map[string]any)
	cal := w["calendar"].(map[string]any)
	if cal["type"] != "microsoft" || cal["emailAddress"] != "room-2@contoso.example" {
		t.Fatalf("calendar: %v", cal)
	}
	one := e.get("/workspaces/"+w["id"].(string), tok)
	if one.status != 200 || one.body["displayName"] != "Room 2" {
		t.Fatalf("workspace: %s", one.raw)
	}
	// The device list names the same workspace.
	if n := len(e.get("/devices?workspaceId="+w["id"].(string), tok).body["items"].([]any)); n != 1 {
		t.Fatalf("devices in workspace: %d", n)
	}
}
