package webexsim

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func put(id string, bookings ...string) map[string]any {
	var list []any
	for _, b := range bookings {
		var v any
		_ = json.Unmarshal([]byte(b), &v)
		list = append(list, v)
	}
	if list == nil {
		list = []any{}
	}
	return map[string]any{"deviceId": id, "arguments": map[string]any{}, "body": map[string]any{"Bookings": list}}
}

// A Put lands on the device (admin bookings and puts show it), List reads it back with the
// device's rendering, and a second Put replaces the list.
func TestBookingsPutListAndAdminBookings(t *testing.T) {
	e := start(t, 2, nil)
	tok := e.token()
	sig, _ := e.s.PutSignal(e.ids[0])
	r := e.command(tok, "Bookings.Put", put(e.ids[0], booking))
	if r.status != 200 || r.body["deviceId"] != e.ids[0] || r.body["result"].(map[string]any)["status"] != "OK" {
		t.Fatalf("put: %d %s", r.status, r.raw)
	}
	select {
	case <-sig:
	default:
		t.Fatal("put signal not fired")
	}
	a := e.admin("GET", "/devices/"+e.ids[0]+"/bookings", "")
	if a.status != 200 || !strings.Contains(a.raw, `"Id": "evt-1"`) {
		t.Fatalf("admin bookings: %s", a.raw)
	}
	if a := e.admin("GET", "/devices/Room%202%20Bar/bookings", ""); a.status != 200 || !strings.Contains(a.raw, `"Bookings": []`) {
		t.Fatalf("other device: %s", a.raw)
	}
	r = e.command(tok, "Bookings.List", map[string]any{"deviceId": e.ids[0], "arguments": map[string]any{"DayOffset": 0, "Days": 1, "Limit": 200, "Offset": 0}})
	res, _ := r.body["result"].(map[string]any)
	if r.status != 200 || res["ResultInfo"].(map[string]any)["TotalRows"].(float64) != 1 {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}
	item := res["Booking"].([]any)[0].(map[string]any)
	if item["Id"] != "evt-1" || item["Time"].(map[string]any)["EndTime"] != "2026-03-02T10:30:00Z" ||
		item["DialInfo"].(map[string]any)["Calls"].(map[string]any)["Call"].([]any)[0].(map[string]any)["Number"] != "meet@example.com" {
		t.Fatalf("list item: %v", item)
	}
	// The body as a string (the on-device multiline form) is accepted too; it replaces the list.
	str := map[string]any{"deviceId": e.ids[0], "body": `{"Bookings":[]}`}
	if r := e.command(tok, "bookings.put", str); r.status != 200 {
		t.Fatalf("string body: %d %s", r.status, r.raw)
	}
	if b, _ := e.s.Bookings(e.ids[0]); len(b) != 0 {
		t.Fatalf("not replaced: %v", b)
	}
	p := e.admin("GET", "/devices/"+e.ids[0]+"/puts", "")
	if n := len(p.body["puts"].([]any)); n != 2 {
		t.Fatalf("puts: %s", p.raw)
	}
	if ds := e.s.Stats().Devices[e.ids[0]]; ds.Commands["Bookings.Put"] != 2 || ds.Commands["Bookings.List"] != 1 || ds.Puts != 2 {
		t.Fatalf("device stats %+v", ds)
	}
}

// Put runs ciscosim's validation: what a LAN codec refuses, the cloud refuses (400, recorded).
func TestBookingsPutValidationIsCiscosims(t *testing.T) {
	e := start(t, 1, nil)
	tok := e.token()
	bad := strings.Replace(booking, `"Protocol":"SIP"`, `"Protocol":"WebRTC"`, 1)
	msg := webexError(t, e.command(tok, "Bookings.Put", put(e.ids[0], bad)), 400)
	if !strings.Contains(msg, "WebRTC needs MeetingPlatform") {
		t.Fatalf("message %q", msg)
	}
	webexError(t, e.command(tok, "Bookings.Put", map[string]any{"deviceId": e.ids[0]}), 400)
	webexError(t, e.command(tok, "Bookings.Put", map[string]any{"deviceId": e.ids[0], "arguments": map[string]any{"X": 1}, "body": map[string]any{"Bookings": []any{}}}), 400)
	puts, _ := e.s.Puts(e.ids[0])
	if len(puts) != 3 || puts[0].Accepted || puts[0].Error == "" {
		t.Fatalf("puts %+v", puts)
	}
	// MTR mode: Put is unavailable.
	if a := e.admin("POST", "/devices/"+e.ids[0]+"/profile", `{"profile":"roomos26-mtr"}`); a.status != 200 {
		t.Fatalf("profile: %s", a.raw)
	}
	if msg := webexError(t, e.command(tok, "Bookings.Put", put(e.ids[0], booking)), 400); !strings.Contains(msg, "Teams Rooms") {
		t.Fatalf("message %q", msg)
	}
}

func TestCommandAndStatusErrors(t *testing.T) {
	e := start(t, 1, nil)
	tok := e.token()
	id := e.ids[0]
	webexError(t, e.command(tok, "Bookings.Put", put("Y2lzY29zcGFyazovL3VzL0RFVklDRS9ub3Bl", booking)), 404)
	webexError(t, e.command(tok, "Bookings.Put", put("", booking)), 400)
	webexError(t, e.command(tok, "Audio.Volume.Set", map[string]any{"deviceId": id, "arguments": map[string]any{"Level": 50}}), 400)

	// Read-only permission: statuses work, commands are 403; restoring it recovers.
	if a := e.admin("POST", "/devices/"+id+"/permissions", `{"permissions":["xapi:readonly"]}`); a.status != 200 {
		t.Fatalf("permissions: %s", a.raw)
	}
	if msg := webexError(t, e.command(tok, "Bookings.Put", put(id, booking)), 403); !strings.Contains(msg, "xapi:all") {
		t.Fatalf("message %q", msg)
	}
	if r := e.get("/xapi/status?deviceId="+id+"&name=SystemUnit.Software.Version", tok); r.status != 200 {
		t.Fatalf("readonly status: %d %s", r.status, r.raw)
	}
	_ = e.admin("POST", "/devices/"+id+"/permissions", `{"permissions":[]}`)
	webexError(t, e.get("/xapi/status?deviceId="+id+"&name=SystemUnit.Software.Version", tok), 403)
	_ = e.admin("POST", "/devices/"+id+"/permissions", `{"permissions":["xapi:all"]}`)

	// Offline: the devices API says so and xAPI answers 502; back online, it works again.
	if a := e.admin("POST", "/devices/"+id+"/connection", `{"status":"disconnected"}`); a.status != 200 {
		t.Fatalf("connection: %s", a.raw)
	}
	if r := e.get("/devices/"+id, tok); r.body["connectionStatus"] != "disconnected" {
		t.Fatalf("device: %s", r.raw)
	}
	if msg := webexError(t, e.command(tok, "Bookings.Put", put(id, booking)), 502); !strings.Contains(msg, "not connected") {
		t.Fatalf("message %q", msg)
	}
	webexError(t, e.get("/xapi/status?deviceId="+id+"&name=Bookings.Current.Id", tok), 502)
	_ = e.admin("POST", "/devices/"+id+"/connection", `{"status":"connected"}`)
	if r := e.command(tok, "Bookings.Put", put(id, booking)); r.status != 200 {
		t.Fatalf("after recovery: %d %s", r.status, r.raw)
	}

	// Scopes: a token without spark:xapi_commands gets 403 on commands, not on statuses.
	pair := e.s.IssueTokens([]string{ScopeXAPIStatuses})
	webexError(t, e.command(pair.AccessToken, "Bookings.List", map[string]any{"deviceId": id}), 403)
	if r := e.get("/xapi/status?deviceId="+id+"&name=Bookings.Current.Id", pair.AccessToken); r.status != 200 {
		t.Fatalf("status with statuses scope: %d %s", r.status, r.raw)
	}
	pair = e.s.IssueTokens([]string{ScopeXAPICommands})
	webexError(t, e.get("/xapi/status?deviceId="+id+"&name=Bookings.Current.Id", pair.AccessToken), 403)
}

// Status answers nested objects, several names at once, and follows the bookings on the clock.
func TestStatusIsNestedAndFollowsBookings(t *testing.T) {
	e := start(t, 1, nil)
	tok := e.token()
	id := e.ids[0]
	if r := e.command(tok, "Bookings.Put", put(id, booking)); r.status != 200 {
		t.Fatalf("put: %s", r.raw)
	}
	r := e.get("/xapi/status?deviceId="+id+"&name=SystemUnit.Software.Version&name=bookings.current.id&name=Bookings.Availability.*", tok)
	if r.status != 200 {
		t.Fatalf("status: %d %s", r.status, r.raw)
	}
	res := r.body["result"].(map[string]any)
	if res["SystemUnit"].(map[string]any)["Software"].(map[string]any)["Version"] != "ce11.14.4.0.7e5b2c4d1f0" {
		t.Fatalf("version: %s", r.raw)
	}
	b := res["Bookings"].(map[string]any)
	if b["Current"].(map[string]any)["Id"] != "" || b["Availability"].(map[string]any)["Status"] != "FreeUntil" {
		t.Fatalf("before the meeting: %s", r.raw)
	}
	e.clock.Advance(time.Hour + 5*time.Minute) // 10:05, inside evt-1
	r = e.get("/xapi/status?deviceId="+id+"&name=Bookings.Current.Id", tok)
	if r.body["result"].(map[string]any)["Bookings"].(map[string]any)["Current"].(map[string]any)["Id"] != "evt-1" {
		t.Fatalf("during the meeting: %s", r.raw)
	}
	r = e.get("/xapi/status?deviceId="+id+"&name=SystemUnit.State.NumberOfActiveCalls", tok)
	if r.status != 200 || r.body["result"].(map[string]any)["SystemUnit"].(map[string]any)["State"].(map[string]any)["NumberOfActiveCalls"] != 0.0 {
		t.Fatalf("active calls: %s", r.raw)
	}
	webexError(t, e.get("/xapi/status?deviceId="+id+"&name=No.Such.Thing", tok), 400)
	webexError(t, e.get("/xapi/status?deviceId="+id, tok), 400)
}

func TestClearGetDelete(t *testing.T) {
	e := start(t, 1, nil)
	tok := e.token()
	id := e.ids[0]
	two := strings.Replace(booking, "evt-1", "evt-2", 1)
	e.command(tok, "Bookings.Put", put(id, booking, two))
	if r := e.command(tok, "Bookings.Get", map[string]any{"deviceId": id, "arguments": map[string]any{"Id": "evt-2"}}); r.status != 200 {
		t.Fatalf("get: %s", r.raw)
	}
	e.command(tok, "Bookings.Delete", map[string]any{"deviceId": id, "arguments": map[string]any{"Id": "evt-2"}})
	if b, _ := e.s.Bookings(id); len(b) != 1 {
		t.Fatalf("delete: %v", b)
	}
	if r := e.command(tok, "Bookings.Clear", map[string]any{"deviceId": id, "arguments": map[string]any{}}); r.status != 200 {
		t.Fatalf("clear: %s", r.raw)
	}
	if b, _ := e.s.Bookings(id); len(b) != 0 {
		t.Fatalf("clear left %v", b)
	}
}
