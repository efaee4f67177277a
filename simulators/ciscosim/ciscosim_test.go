package ciscosim

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testClock is a settable simulator clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

var t0 = time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)

func newFleet(t *testing.T) (*Fleet, *testClock) {
	t.Helper()
	clk := &testClock{now: t0}
	f := NewFleet(Options{Now: clk.Now, TickEvery: -1})
	t.Cleanup(f.Close)
	return f, clk
}

func addCodec(t *testing.T, f *Fleet, cfg CodecConfig) *Codec {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "codec-1"
	}
	if cfg.Users == nil {
		cfg.Users = []User{
			{Username: "admin", Password: "pw", Roles: []string{RoleAdmin}},
			{Username: "user", Password: "pw", Roles: []string{RoleUser}},
			{Username: "integrator", Password: "pw", Roles: []string{RoleIntegrator}},
		}
	}
	c, err := f.Add(cfg)
	require.NoError(t, err)
	return c
}

// client is a bare JSON-RPC client for the tests: it reads every frame into a channel so tests
// see replies and notifications in arrival order.
type client struct {
	t     *testing.T
	ws    *websocket.Conn
	in    chan map[string]any
	id    int
	notes []map[string]any // notifications that arrived while waiting for a reply
}

func dial(t *testing.T, c *Codec, hdr http.Header, protos ...string) (*client, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, Subprotocols: protos, HandshakeTimeout: 5 * time.Second} //nolint:gosec // test client of a self-signed simulator
	ws, resp, err := d.Dial(c.URL(), hdr)
	if err != nil {
		return nil, resp, err
	}
	cl := &client{t: t, ws: ws, in: make(chan map[string]any, 100)}
	go func() {
		defer close(cl.in)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) == nil {
				cl.in <- m
			}
		}
	}()
	t.Cleanup(func() { ws.Close() })
	return cl, resp, nil
}

func basic(user, pass string) http.Header {
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}}
}

func login(t *testing.T, c *Codec, user string) *client {
	t.Helper()
	cl, _, err := dial(t, c, basic(user, "pw"))
	require.NoError(t, err)
	return cl
}

func (cl *client) sendRaw(s string) {
	require.NoError(cl.t, cl.ws.WriteMessage(websocket.TextMessage, []byte(s)))
}

func (cl *client) request(method string, params any) int {
	cl.id++
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": cl.id, "method": method, "params": params})
	cl.sendRaw(string(b))
	return cl.id
}

func (cl *client) next() map[string]any {
	cl.t.Helper()
	select {
	case m, ok := <-cl.in:
		require.True(cl.t, ok, "connection closed")
		return m
	case <-time.After(5 * time.Second):
		cl.t.Fatal("no message from the codec")
	}
	return nil
}

// reply waits for the reply to id, collecting notifications seen before it.
func (cl *client) reply(id int) (map[string]any, []map[string]any) {
	cl.t.Helper()
	var notes []map[string]any
	for {
		m := cl.next()
		if m["method"] == "xFeedback/Event" {
			notes = append(notes, m)
			continue
		}
		if fmt.Sprint(m["id"]) == fmt.Sprint(id) {
			cl.notes = append(cl.notes, notes...)
			return m, notes
		}
		cl.t.Fatalf("unexpected message %v while waiting for reply %d", m, id)
	}
}

func (cl *client) call(method string, params any) map[string]any {
	cl.t.Helper()
	r, _ := cl.reply(cl.request(method, params))
	return r
}

func (cl *client) result(method string, params any) any {
	cl.t.Helper()
	r := cl.call(method, params)
	require.Nil(cl.t, r["error"], "%s: %v", method, r["error"])
	return r["result"]
}

func errCode(t *testing.T, r map[string]any) int {
	t.Helper()
	e, ok := r["error"].(map[string]any)
	require.True(t, ok, "expected an error, got %v", r)
	return int(e["code"].(float64))
}

func errMessage(r map[string]any) string {
	e, _ := r["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func (cl *client) notification() map[string]any {
	cl.t.Helper()
	if len(cl.notes) > 0 {
		n := cl.notes[0]
		cl.notes = cl.notes[1:]
		return n["params"].(map[string]any)
	}
	for {
		m := cl.next()
		if m["method"] == "xFeedback/Event" {
			return m["params"].(map[string]any)
		}
	}
}

func putBody(t *testing.T, bookings ...map[string]any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"Bookings": bookings})
	require.NoError(t, err)
	return string(b)
}

func booking(id string, start time.Time, minutes int, extra map[string]any) map[string]any {
	b := map[string]any{
		"Id": id, "Title": "Weekly " + id, "Organizer": map[string]any{"Name": "Ada Lovelace", "Email": "ada@example.com"},
		"Time":   map[string]any{"StartTime": start.UTC().Format(time.RFC3339), "Duration": minutes, "StartTimeBuffer": 300, "EndTimeBuffer": 0},
		"Number": "81234567890@zoomcrc.com", "Protocol": "SIP", "MeetingPlatform": "Zoom",
	}
	for k, v := range extra {
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
	}
	return b
}

func TestHandshakeAuthStyles(t *testing.T) {
	f, _ := newFleet(t)
	c := addCodec(t, f, CodecConfig{})
	require.Same(t, c, f.Codec("codec-1"))

	// Basic header.
	_, resp, err := dial(t, c, basic("admin", "pw"))
	require.NoError(t, err)
	assert.Equal(t, 101, resp.StatusCode)

	// Subprotocol, base64url without padding (jsxapi), echoed back.
	tok := "auth-" + base64.RawURLEncoding.EncodeToString([]byte("admin:pw"))
	_, resp, err = dial(t, c, nil, tok)
	require.NoError(t, err)
	assert.Equal(t, tok, resp.Header.Get("Sec-Websocket-Protocol"))

	// Subprotocol with standard base64 (browser samples).
	_, _, err = dial(t, c, nil, "auth-"+base64.StdEncoding.EncodeToString([]byte("admin:pw")))
	require.NoError(t, err)

	// Wrong password: 403. No credentials: 401.
	_, resp, err = dial(t, c, basic("admin", "nope"))
	require.Error(t, err)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	_, resp, err = dial(t, c, nil)
	require.Error(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	st := c.Stats()
	assert.Equal(t, 5, st.Handshakes.Attempts)
	assert.Equal(t, 3, st.Handshakes.ByStatus[101])
	assert.Equal(t, 1, st.Handshakes.ByStatus[403])
	assert.Equal(t, 1, st.Handshakes.ByStatus[401])

	// Only /ws upgrades.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // test
	r, err := hc.Get("https://" + c.Addr() + "/xmlapi/status.xml")
	require.NoError(t, err)
	r.Body.Close()
	assert.Equal(t, http.StatusNotFound, r.StatusCode)
}

func TestSubprotocolOnlyCodecAnswers401ToHeader(t *testing.T) {
	f, _ := newFleet(t)
	c := addCodec(t, f, CodecConfig{AuthStyle: AuthSubprotocol})
	_, resp, err := dial(t, c, basic("admin", "pw"))
	require.Error(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the header is ignored, so no credentials were seen")
	_, _, err = dial(t, c, nil, "auth-"+base64.RawURLEncoding.EncodeToString([]byte("admin:pw")))
	require.NoError(t, err)
}

func TestLockoutAfterFailedLogins(t *testing.T) {
	f, clk := newFleet(t)
	c := addCodec(t, f, CodecConfig{MaxFailedLogins: 3, LockoutFor: time.Minute})
	for range 3 {
		_, resp, err := dial(t, c, basic("admin", "wrong"))
		require.Error(t, err)
		require.Equal(t, 403, resp.StatusCode)
	}
	_, resp, err := dial(t, c, basic("admin", "pw"))
	require.Error(t, err, "locked out even with the right password")
	assert.Equal(t, 403, resp.StatusCode)
	clk.Set(t0.Add(2 * time.Minute))
	_, _, err = dial(t, c, basic("admin", "pw"))
	require.NoError(t, err)
}

func TestHandshakeFailures(t *testing.T) {
	f, _ := newFleet(t)
	c := addCodec(t, f, CodecConfig{})
	for _, status := range []int{502, 503, 404} {
		c.SetFaults(Faults{HandshakeStatus: status})
		_, resp, err := dial(t, c, basic("admin", "pw"))
		require.Error(t, err)
		assert.Equal(t, status, resp.StatusCode)
	}
	c.SetFaults(Faults{})
	_, _, err := dial(t, c, basic("admin", "pw"))
	require.NoError(t, err)

	off := addCodec(t, f, CodecConfig{Name: "off", WebsocketDisabled: true})
	_, resp, err := dial(t, off, basic("admin", "pw"))
	require.Error(t, err)
	assert.Equal(t, 404, resp.StatusCode)

	limited := addCodec(t, f, CodecConfig{Name: "limited", MaxSessionsPerUser: 1})
	login(t, limited, "admin")
	_, resp, err = dial(t, limited, basic("admin", "pw"))
	require.Error(t, err)
	assert.Equal(t, 503, resp.StatusCode, "over the session limit")
}

func TestJSONRPCErrors(t *testing.T) {
	f, _ := newFleet(t)
	cl := login(t, addCodec(t, f, CodecConfig{}), "admin")

	cl.sendRaw(`{"jsonrpc":"2.0","id":1,"method":`)
	m := cl.next()
	assert.Equal(t, -32700.0, m["error"].(map[string]any)["code"])

	cl.sendRaw(`{"id":"x","method":"xGet"}`)
	m = cl.next()
	assert.Equal(t, "x", m["id"], "the id is echoed as sent")
	assert.Equal(t, -32600.0, m["error"].(map[string]any)["code"])

	assert.Equal(t, -32601, errCode(t, cl.call("xCommand/No/Such", nil)))
	assert.Equal(t, -32601, errCode(t, cl.call("xFrobnicate", nil)))
	assert.Equal(t, -32602, errCode(t, cl.call("xGet", map[string]any{})))
	assert.Equal(t, -32601, errCode(t, cl.call("xGet", map[string]any{"Path": []any{"Status", "Nope"}})))
	assert.Equal(t, -32602, errCode(t, cl.call("xCommand/Bookings/Get", map[string]any{})))

	cl.sendRaw(`{"jsonrpc":"2.0","id":"abc","method":"xGet","params":{"Path":["Status","SystemUnit","Software","Version"]}}`)
	m = cl.next()
	assert.Equal(t, "abc", m["id"])
	assert.Equal(t, RoomOS11.Version, m["result"])
}

func TestXGetXQueryXSet(t *testing.T) {
	f, _ := newFleet(t)
	c := addCodec(t, f, CodecConfig{SystemName: "Bjorvika"})
	cl := login(t, c, "admin")

	assert.Equal(t, "Bjorvika", cl.result("xGet", map[string]any{"Path": []any{"Configuration", "SystemUnit", "Name"}}))
	sw := cl.result("xGet", map[string]any{"Path": []any{"Status", "SystemUnit", "Software"}}).(map[string]any)
	assert.Equal(t, RoomOS11.DisplayName, sw["DisplayName"], "a subtree is relative to the path")

	q := cl.result("xQuery", map[string]any{"Query": []any{"Status", "**", "Version"}}).(map[string]any)
	assert.Equal(t, RoomOS11.Version, q["Status"].(map[string]any)["SystemUnit"].(map[string]any)["Software"].(map[string]any)["Version"],
		"xQuery answers from the root")

	sid := cl.result("xFeedback/Subscribe", map[string]any{"Query": []any{"Configuration", "SystemUnit"}}).(map[string]any)["Id"]
	assert.Equal(t, true, cl.result("xSet", map[string]any{"Path": []any{"Configuration", "SystemUnit", "Name"}, "Value": "Fjordline"}))
	n := cl.notification()
	assert.Equal(t, sid, n["Id"])
	assert.Equal(t, "Fjordline", n["Configuration"].(map[string]any)["SystemUnit"].(map[string]any)["Name"])
	assert.Equal(t, "Fjordline", cl.result("xGet", map[string]any{"Path": []any{"Configuration", "SystemUnit", "Name"}}))

	user := login(t, c, "user")
	assert.Equal(t, -31999, errCode(t, user.call("xSet", map[string]any{"Path": []any{"Configuration", "SystemUnit", "Name"}, "Value": "x"})))
	integrator := login(t, c, "integrator")
	assert.Equal(t, -31999, errCode(t, integrator.call("xGet", map[string]any{"Path": []any{"Status", "Bookings"}})), "Integrators cannot read bookings")
}

func TestBookingsPutListGetDeleteClear(t *testing.T) {
	f, _ := newFleet(t)
	c := addCodec(t, f, CodecConfig{})
	cl := login(t, c, "admin")

	body := putBody(t,
		booking("b", t0.Add(3*time.Hour), 60, nil),
		booking("a", t0.Add(time.Hour), 30, map[string]any{"Protocol": "WebRTC", "MeetingPlatform": "MicrosoftTeams", "Number": "https://teams.microsoft.com/l/meetup-join/x"}),
	)
	res := cl.result("xCommand/Bookings/Put", map[string]any{"body": body}).(map[string]any)
	assert.Equal(t, "OK", res["status"])

	got := c.Bookings()
	require.Len(t, got, 2)
	assert.Equal(t, "a", got[0].Id, "sorted by start")
	puts := c.Puts()
	require.Len(t, puts, 1)
	sum := sha256.Sum256([]byte(body))
	assert.Equal(t, hex.EncodeToString(sum[:]), puts[0].Hash)
	assert.True(t, puts[0].Accepted)

	list := cl.result("xCommand/Bookings/List", nil).(map[string]any)
	assert.Equal(t, 2.0, list["ResultInfo"].(map[string]any)["TotalRows"])
	items := list["Booking"].([]any)
	first := items[0].(map[string]any)
	assert.Equal(t, "a", first["Id"])
	assert.Equal(t, 1.0, first["id"])
	assert.Equal(t, "MicrosoftTeams", first["MeetingPlatform"])
	call := first["DialInfo"].(map[string]any)["Calls"].(map[string]any)["Call"].([]any)[0].(map[string]any)
	assert.Equal(t, "WebRTC", call["Protocol"])
	assert.Equal(t, t0.Add(90*time.Minute).Format(time.RFC3339), first["Time"].(map[string]any)["EndTime"])

	// Day filters: DayOffset 1 is tomorrow, empty.
	list = cl.result("xCommand/Bookings/List", map[string]any{"DayOffset": 1, "Days": 1}).(map[string]any)
	assert.Equal(t, 0.0, list["ResultInfo"].(map[string]any)["TotalRows"])
	assert.Nil(t, list["Booking"])
	list = cl.result("xCommand/Bookings/List", map[string]any{"Limit": 1, "Offset": 1}).(map[string]any)
	assert.Equal(t, "b", list["Booking"].([]any)[0].(map[string]any)["Id"])

	g := cl.result("xCommand/Bookings/Get", map[string]any{"Id": "b"}).(map[string]any)
	assert.Equal(t, "b", g["Booking"].(map[string]any)["Id"])
	assert.Equal(t, 1, errCode(t, cl.call("xCommand/Bookings/Get", map[string]any{"Id": "zzz"})))

	cl.result("xCommand/Bookings/Delete", map[string]any{"Id": "b"})
	assert.Len(t, c.Bookings(), 1)

	// Put is a full replace.
	cl.result("xCommand/Bookings/Put", map[string]any{"body": putBody(t, booking("c", t0.Add(5*time.Hour), 15, nil))})
	got = c.Bookings()
	require.Len(t, got, 1)
	assert.Equal(t, "c", got[0].Id)

	cl.result("xCommand/Bookings/Clear", nil)
	assert.Empty(t, c.Bookings())

	// Users may list and clear but not Put.
	user := login(t, c, "user")
	user.result("xCommand/Bookings/List", nil)
	assert.Equal(t, -31999, errCode(t, user.call("xCommand/Bookings/Put", map[string]any{"body": body})))
	integrator := login(t, c, "integrator")
	assert.Equal(t, -31999, errCode(t, integrator.call("xCommand/Bookings/List", nil)))
}

func TestBookingsPutValidation(t *testing.T) {
	start := t0.Add(time.Hour)
	cases := []struct {
		name    string
		profile Profile
		b       map[string]any
		want    string
	}{
		{"missing Id", RoomOS11, booking("x", start, 30, map[string]any{"Id": nil}), "Id is required"},
		{"Id too long", RoomOS11, booking(strings.Repeat("x", 129), start, 30, nil), "1–128"},
		{"missing Title", RoomOS11, booking("x", start, 30, map[string]any{"Title": nil}), "Title is required"},
		{"missing Number", RoomOS11, booking("x", start, 30, map[string]any{"Number": ""}), "Number is required"},
		{"missing organizer name", RoomOS11, booking("x", start, 30, map[string]any{"Organizer": map[string]any{"Email": "a@b"}}), "Organizer.Name"},
		{"missing duration", RoomOS11, booking("x", start, 30, map[string]any{"Time": map[string]any{"StartTime": start.Format(time.RFC3339)}}), "Time.Duration"},
		{"local time", RoomOS11, booking("x", start, 30, map[string]any{"Time": map[string]any{"StartTime": "2026-03-04T09:00:00+01:00", "Duration": 30}}), "UTC"},
		{"bad protocol", RoomOS11, booking("x", start, 30, map[string]any{"Protocol": "Carrier pigeon"}), "Protocol"},
		{"bad platform", RoomOS11, booking("x", start, 30, map[string]any{"MeetingPlatform": "Skype"}), "MeetingPlatform"},
		{"WebRTC with Zoom", RoomOS11, booking("x", start, 30, map[string]any{"Protocol": "WebRTC"}), "WebRTC needs"},
		{"bad privacy", RoomOS11, booking("x", start, 30, map[string]any{"Privacy": "Secret"}), "Privacy"},
		{"unknown key", RoomOS11, booking("x", start, 30, map[string]any{"Colour": "red"}), "unknown field"},
		{"None before 26", RoomOS11, booking("x", start, 30, map[string]any{"Protocol": "None", "Number": ""}), "Protocol \"None\""},
		{"CE 9.15 WebRTC", CE915, booking("x", start, 30, map[string]any{"Protocol": "WebRTC", "MeetingPlatform": nil}), "Protocol \"WebRTC\""},
		{"CE 9.15 MeetingPlatform", CE915, booking("x", start, 30, nil), "unknown parameter MeetingPlatform"},
	}
	f, _ := newFleet(t)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := addCodec(t, f, CodecConfig{Name: fmt.Sprintf("v%d", i), Profile: tc.profile})
			cl := login(t, c, "admin")
			r := cl.call("xCommand/Bookings/Put", map[string]any{"body": putBody(t, tc.b)})
			assert.Equal(t, 1, errCode(t, r))
			assert.Contains(t, errMessage(r), tc.want)
			assert.Equal(t, float64(ErrCause), r["error"].(map[string]any)["data"].(map[string]any)["Cause"])
			assert.Empty(t, c.Bookings(), "nothing stored")
			require.Len(t, c.Puts(), 1, "the refused Put is still recorded")
			assert.False(t, c.Puts()[0].Accepted)
		})
	}
	t.Run("duplicate ids", func(t *testing.T) {
		c := addCodec(t, f, CodecConfig{Name: "dup"})
		r := login(t, c, "admin").call("xCommand/Bookings/Put", map[string]any{"body": putBody(t, booking("x", start, 30, nil), booking("x", start, 30, nil))})
		assert.Contains(t, errMessage(r), "appears twice")
	})
	t.Run("None on 26 without a number", func(t *testing.T) {
		c := addCodec(t, f, CodecConfig{Name: "r26", Profile: RoomOS26})
		login(t, c, "admin").result("xCommand/Bookings/Put", map[string]any{"body": putBody(t, booking("x", start, 30, map[string]any{"Protocol": "None", "Number": "", "MeetingPlatform": "None"}))})
		assert.Len(t, c.Bookings(), 1)
	})
	t.Run("CE 9.15 SIP without platform", func(t *testing.T) {
		c := addCodec(t, f, CodecConfig{Name: "ce", Profile: CE915})
		login(t, c, "admin").result("xCommand/Bookings/Put", map[string]any{"body": putBody(t, booking("x", start, 30, map[string]any{"MeetingPlatform": nil}))})
		assert.Len(t, c.Bookings(), 1)
	})
	t.Run("missing body", func(t *testing.T) {
		c := addCodec(t, f, CodecConfig{Name: "nobody"})
		assert.Equal(t, -32602, errCode(t, login(t, c, "admin").call("xCommand/Bookings/Put", map[string]any{})))
	})
}

func TestFirmwareRefusals(t *testing.T) {
	f, _ := newFleet(t)
	body := putBody(t, booking("x", t0.Add(time.Hour), 30, map[string]any{"MeetingPlatform": nil}))

	mtr := addCodec(t, f, CodecConfig{Name: "mtr", Profile: RoomOS26MTR})
	cl := login(t, mtr, "admin")
	r := cl.call("xCommand/Bookings/Put", map[string]any{"body": body})
	assert.Contains(t, errMessage(r), "Microsoft Teams Rooms")
	r = cl.call("xCommand/Bookings/Clear", nil)
	assert.Contains(t, errMessage(r), "Microsoft Teams Rooms")
	cl.result("xCommand/Bookings/List", nil)

	onprem := addCodec(t, f, CodecConfig{Name: "onprem", Profile: CE915, NotCloudRegistered: true})
	r = login(t, onprem, "admin").call("xCommand/Bookings/Put", map[string]any{"body": body})
	assert.Contains(t, errMessage(r), "Webex Edge")
	onprem.SetCloudRegistered(true)
	login(t, onprem, "admin").result("xCommand/Bookings/Put", map[string]any{"body": body})
}

func TestBookingEventsFollowTheClock(t *testing.T) {
	f, clk := newFleet(t)
	c := addCodec(t, f, CodecConfig{})
	cl := login(t, c, "admin")
	evID := cl.result("xFeedback/Subscribe", map[string]any{"Query": []any{"Event", "Bookings"}}).(map[string]any)["Id"]
	curID := cl.result("xFeedback/Subscribe", map[string]any{"Query": []any{"Status", "Bookings", "Current"}, "NotifyCurrentValue": true}).(map[string]any)["Id"]
	assert.NotEqual(t, evID, curID)
	n := cl.notification()
	assert.Equal(t, curID, n["Id"], "NotifyCurrentValue sends the current value after the result")

	start := t0.Add(10 * time.Minute)
	cl.result("xCommand/Bookings/Put", map[string]any{"body": putBody(t, booking("m1", start, 30, nil))})
	n = cl.notification()
	assert.Equal(t, map[string]any{"Bookings": map[string]any{"Updated": map[string]any{}}}, n["Event"])

	want := []struct {
		at    time.Time
		event string
	}{
		{start.Add(-5 * time.Minute), "StartTimeBuffer"},
		{start, "Start"},
		{start.Add(25 * time.Minute), "TimeRemaining"},
		{start.Add(30 * time.Minute), "End"},
	}
	for _, w := range want {
		clk.Set(w.at)
		c.Tick()
		n := cl.notification()
		if n["Id"] == curID {
			// Status Bookings Current changes at Start and End.
			cur := n["Status"].(map[string]any)["Bookings"].(map[string]any)["Current"].(map[string]any)["Id"]
			if w.event == "Start" {
				assert.Equal(t, "m1", cur)
			}
			n = cl.notification()
		}
		require.Equal(t, evID, n["Id"], w.event)
		ev := n["Event"].(map[string]any)["Bookings"].(map[string]any)
		require.Contains(t, ev, w.event)
		assert.Equal(t, "m1", ev[w.event].(map[string]any)["Id"])
		if w.event == "End" {
			assert.Equal(t, 30.0, ev["End"].(map[string]any)["ScheduledDuration"])
		}
	}

	// Unsubscribed: no more events.
	cl.result("xFeedback/Unsubscribe", map[string]any{"Id": evID})
	assert.Equal(t, -32602, errCode(t, cl.call("xFeedback/Unsubscribe", map[string]any{"Id": evID})))
}

func TestCallsFireEventsAndGhosts(t *testing.T) {
	f, _ := newFleet(t)
	c := addCodec(t, f, CodecConfig{})
	cl := login(t, c, "admin")
	cl.result("xFeedback/Subscribe", map[string]any{"Query": []any{"Event", "CallSuccessful"}})
	cl.result("xFeedback/Subscribe", map[string]any{"Query": []any{"Status", "Call"}})
	res := cl.result("xCommand/Dial", map[string]any{"Number": "x@zoomcrc.com", "BookingId": "m1"}).(map[string]any)
	assert.Equal(t, "OK", res["status"])
	seen := map[string]bool{}
	for range 2 {
		n := cl.notification()
		if ev, ok := n["Event"].(map[string]any); ok {
			cs := ev["CallSuccessful"].(map[string]any)
			assert.Equal(t, "x@zoomcrc.com", cs["RemoteURI"])
			assert.Equal(t, "m1", cs["BookingId"])
			seen["event"] = true
		} else {
			seen["status"] = true
		}
	}
	assert.Len(t, seen, 2)
	cl.result("xCommand/Call/Disconnect", nil)
	n := cl.notification()
	item := n["Status"].(map[string]any)["Call"].([]any)[0].(map[string]any)
	assert.Equal(t, "True", item["ghost"], "a removed list item is reported as a ghost")
}

func TestReorderedRepliesAndInterleavedFeedback(t *testing.T) {
	f, _ := newFleet(t)
	c := addCodec(t, f, CodecConfig{})
	cl := login(t, c, "admin")
	cl.result("xFeedback/Subscribe", map[string]any{"Query": []any{"Status", "Bookings", "Current"}})
	c.SetFaults(Faults{Reorder: true, InterleaveFeedback: true})
	a := cl.request("xGet", map[string]any{"Path": []any{"Status", "SystemUnit", "ProductId"}})
	b := cl.request("xGet", map[string]any{"Path": []any{"Status", "SystemUnit", "Software", "Version"}})
	var order []int
	notes := 0
	for len(order) < 2 {
		m := cl.next()
		if m["method"] == "xFeedback/Event" {
			notes++
			continue
		}
		order = append(order, int(m["id"].(float64)))
	}
	assert.Equal(t, []int{b, a}, order, "the second answer overtakes the first")
	assert.GreaterOrEqual(t, notes, 2, "feedback arrives between requests and answers")
}

func TestDropMidRequestAndReboot(t *testing.T) {
	f, _ := newFleet(t)
	c := addCodec(t, f, CodecConfig{})
	cl := login(t, c, "admin")
	cl.result("xCommand/Bookings/Put", map[string]any{"body": putBody(t, booking("m1", t0.Add(time.Hour), 30, nil))})

	c.SetFaults(Faults{DropNext: "xCommand/Bookings/Put"})
	cl.request("xCommand/Bookings/Put", map[string]any{"body": putBody(t, booking("m2", t0.Add(time.Hour), 30, nil))})
	_, ok := <-cl.in
	assert.False(t, ok, "the connection is cut without an answer")
	assert.Equal(t, "m1", c.Bookings()[0].Id, "the dropped Put did not apply")
	assert.Empty(t, c.Faults().DropNext, "one-shot")

	cl = login(t, c, "admin")
	cl.result("xFeedback/Subscribe", map[string]any{"Query": []any{"Event", "Bookings"}})
	require.Equal(t, 1, c.Stats().Subscribed)
	c.Reboot(RebootOptions{Down: 200 * time.Millisecond})
	_, ok = <-cl.in
	assert.False(t, ok)
	assert.Empty(t, c.Bookings(), "bookings are lost in a reboot by default")
	assert.Equal(t, 0, c.Stats().Subscribed)
	_, resp, err := dial(t, c, basic("admin", "pw"))
	require.Error(t, err)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	time.Sleep(250 * time.Millisecond) // the simulated boot takes wall-clock time
	login(t, c, "admin")

	keep := true
	login(t, c, "admin").result("xCommand/Bookings/Put", map[string]any{"body": putBody(t, booking("m3", t0.Add(time.Hour), 30, nil))})
	c.Reboot(RebootOptions{Down: time.Millisecond, KeepBookings: &keep, NotReady: time.Hour})
	time.Sleep(5 * time.Millisecond)
	assert.Len(t, c.Bookings(), 1, "kept when asked")
	assert.Equal(t, -31997, errCode(t, login(t, c, "admin").call("xCommand/Bookings/List", nil)), "still booting")
}

func TestCertificateRotation(t *testing.T) {
	f, _ := newFleet(t)
	c := addCodec(t, f, CodecConfig{})
	before := c.Fingerprint()
	cl := login(t, c, "admin")
	state := cl.ws.UnderlyingConn().(*tls.Conn).ConnectionState()
	sum := sha256.Sum256(state.PeerCertificates[0].Raw)
	assert.Equal(t, before, hex.EncodeToString(sum[:]), "the fingerprint is the served certificate's")
	after, err := c.RotateCertificate()
	require.NoError(t, err)
	assert.NotEqual(t, before, after)
	_, ok := <-cl.in
	assert.False(t, ok, "connections drop")
	cl = login(t, c, "admin")
	state = cl.ws.UnderlyingConn().(*tls.Conn).ConnectionState()
	sum = sha256.Sum256(state.PeerCertificates[0].Raw)
	assert.Equal(t, after, hex.EncodeToString(sum[:]))
}

func TestFleetCodecsHaveTheirOwnAddressAndCertificate(t *testing.T) {
	f, _ := newFleet(t)
	a := addCodec(t, f, CodecConfig{Name: "a"})
	b := addCodec(t, f, CodecConfig{Name: "b"})
	assert.NotEqual(t, a.URL(), b.URL())
	assert.NotEqual(t, a.Fingerprint(), b.Fingerprint())
	assert.Regexp(t, `^wss://127\.0\.0\.1:\d+/ws$`, a.URL())
	_, err := f.Add(CodecConfig{Name: "a"})
	assert.ErrorContains(t, err, "exists")
}

func TestAdminAPI(t *testing.T) {
	f, _ := newFleet(t)
	c := addCodec(t, f, CodecConfig{})
	base, err := f.ServeAdmin("")
	require.NoError(t, err)
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if strings.HasPrefix(strings.TrimSpace(string(b)), "{") {
			require.NoError(t, json.Unmarshal(b, &out), string(b))
		}
		return resp.StatusCode, out
	}

	login(t, c, "admin").result("xCommand/Bookings/Put", map[string]any{"body": putBody(t, booking("m1", t0.Add(time.Hour), 30, nil))})
	code, out := do("GET", "/codecs/codec-1/bookings", "")
	require.Equal(t, 200, code)
	list := out["Bookings"].([]any)
	require.Len(t, list, 1)
	assert.Equal(t, "m1", list[0].(map[string]any)["Id"])
	assert.Equal(t, "Zoom", list[0].(map[string]any)["MeetingPlatform"], "the Put form")

	code, out = do("GET", "/codecs/codec-1/puts", "")
	require.Equal(t, 200, code)
	puts := out["puts"].([]any)
	require.Len(t, puts, 1)
	assert.Equal(t, t0.Format(time.RFC3339), puts[0].(map[string]any)["at"])

	code, out = do("GET", "/codecs/puts", "")
	require.Equal(t, 200, code)
	assert.Equal(t, map[string]any{"codec-1": float64(1)}, out, "the fleet's Put counts")

	code, out = do("POST", "/codecs/codec-1/foreign-put", putBody(t, booking("tms-1", t0.Add(time.Hour), 30, nil)))
	require.Equal(t, 200, code, out)
	assert.Equal(t, "tms-1", c.Bookings()[0].Id)
	_, out = do("GET", "/codecs/puts", "")
	assert.Equal(t, map[string]any{"codec-1": float64(2)}, out, "another system's Put counts too")
	assert.Equal(t, "admin", c.Puts()[1].Source)

	code, out = do("POST", "/codecs/codec-1/faults", `{"delay_ms": 20, "reorder": true}`)
	require.Equal(t, 200, code)
	assert.Equal(t, 20*time.Millisecond, c.Faults().Delay)
	code, _ = do("POST", "/codecs/codec-1/faults", `{"delay": 20}`)
	assert.Equal(t, 400, code, "unknown keys are refused")
	do("POST", "/codecs/codec-1/faults", `{}`)

	old := c.Fingerprint()
	code, out = do("POST", "/codecs/codec-1/certificate", "")
	require.Equal(t, 200, code)
	assert.NotEqual(t, old, out["fingerprint"])
	assert.Equal(t, c.Fingerprint(), out["fingerprint"])

	code, _ = do("PUT", "/codecs/codec-1/users/otj", `{"password": "s3cret", "roles": ["User"]}`)
	require.Equal(t, 200, code)
	_, _, err = dial(t, c, basic("otj", "s3cret"))
	require.NoError(t, err)

	code, out = do("POST", "/codecs/codec-1/call", `{"number": "x@y"}`)
	require.Equal(t, 200, code)
	assert.Equal(t, 1.0, out["call_id"])
	code, out = do("POST", "/codecs/codec-1/hangup", "")
	require.Equal(t, 200, code)
	assert.Equal(t, true, out["ended"])

	code, _ = do("POST", "/codecs/codec-1/profile", `{"profile": "ce9.15"}`)
	require.Equal(t, 200, code)
	assert.Equal(t, "ce9.15", c.Profile().Name)
	code, out = do("POST", "/codecs/codec-1/profile", `{"profile": "ce8"}`)
	assert.Equal(t, 400, code)
	assert.Contains(t, out["error"], "roomos11")

	code, out = do("GET", "/codecs/codec-1/stats", "")
	require.Equal(t, 200, code)
	assert.GreaterOrEqual(t, out["handshakes"].(map[string]any)["attempts"], 2.0)

	code, _ = do("POST", "/codecs/codec-1/reboot", `{"down_ms": 50}`)
	require.Equal(t, 200, code)
	assert.False(t, c.Up())
	code, _ = do("POST", "/codecs/codec-1/drop", "")
	assert.Equal(t, 200, code)
	code, _ = do("POST", "/codecs/codec-1/freeze", "")
	assert.Equal(t, 200, code)
	code, _ = do("POST", "/tick", "")
	assert.Equal(t, 200, code)

	code, out = do("GET", "/codecs/nope/bookings", "")
	assert.Equal(t, 404, code)
	assert.Contains(t, out["error"], "nope")

	resp, err := http.Get(base + "/codecs")
	require.NoError(t, err)
	var codecs []map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&codecs))
	resp.Body.Close()
	require.Len(t, codecs, 1)
	assert.Equal(t, c.URL(), codecs[0]["url"])
}

// TestJunkFrames: with the JunkFrames fault every reply comes after one frame of each junk
// kind, and the connection keeps working.
func TestJunkFrames(t *testing.T) {
	f, _ := newFleet(t)
	c := addCodec(t, f, CodecConfig{})
	d := websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, HandshakeTimeout: 5 * time.Second} //nolint:gosec // test client of a self-signed simulator
	ws, _, err := d.Dial(c.URL(), basic("admin", "pw"))
	require.NoError(t, err)
	defer ws.Close()
	c.SetFaults(Faults{JunkFrames: true})
	for round := 1; round <= 2; round++ {
		require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"xGet","params":{"Path":["Status","SystemUnit","ProductId"]}}`, round))))
		var kinds []string
		for {
			typ, data, err := ws.ReadMessage()
			require.NoError(t, err)
			var m map[string]any
			if typ == websocket.TextMessage && json.Unmarshal(data, &m) == nil && fmt.Sprint(m["id"]) == fmt.Sprint(round) {
				assert.NotNil(t, m["result"], "the real answer follows the junk")
				break
			}
			kinds = append(kinds, fmt.Sprint(typ))
		}
		assert.Len(t, kinds, len(JunkFrameKinds), "one frame of each junk kind before the reply")
	}
	assert.Equal(t, 2*len(JunkFrameKinds), c.Stats().JunkFrames)
}
