package webexsim

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is the simulator's clock in tests: it moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	t     *testing.T
	s     *Server
	clock *fakeClock
	hc    *http.Client
	ids   []string // device ids, in order added
}

// start runs a simulator with n connected devices (workspace "Room i", room-i@contoso.example)
// on a fake clock, and an HTTPS client trusting its CA.
func start(t *testing.T, n int, mod func(*Options)) *env {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	o := Options{Now: clock.Now}
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	e := &env{t: t, s: s, clock: clock, hc: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CA().Pool()}}}}
	for i := range n {
		id, err := s.AddDevice(DeviceConfig{DisplayName: "Room " + itoa(i+1) + " Bar", Workspace: "Room " + itoa(i+1),
			Email: "room-" + itoa(i+1) + "@contoso.example"})
		if err != nil {
			t.Fatal(err)
		}
		e.ids = append(e.ids, id)
	}
	return e
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (e *env) do(method, u, token string, body io.Reader, ctype string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: string(b)}
	_ = json.Unmarshal(b, &out.body)
	return out
}

func (e *env) refresh(rt string) resp {
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {e.s.ClientID()}, "client_secret": {e.s.ClientSecret()}, "refresh_token": {rt}}
	return e.do("POST", e.s.TokenURL(), "", strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
}

// token gets an access token through the refresh grant with the initial refresh token.
func (e *env) token() string {
	e.t.Helper()
	r := e.refresh(e.s.InitialRefreshToken())
	if r.status != 200 {
		e.t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	return r.body["access_token"].(string)
}

func (e *env) get(path, token string) resp { return e.do("GET", e.s.APIURL()+path, token, nil, "") }

func (e *env) command(token, name string, payload any) resp {
	b, _ := json.Marshal(payload)
	return e.do("POST", e.s.APIURL()+"/xapi/command/"+name, token, strings.NewReader(string(b)), "application/json")
}

func (e *env) admin(method, path string, body string) resp {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.s.AdminURL()+path, r)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: string(b)}
	_ = json.Unmarshal(b, &out.body)
	return out
}

// webexError asserts Webex's error JSON and returns its message.
func webexError(t *testing.T, r resp, status int) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	msg, _ := r.body["message"].(string)
	errs, _ := r.body["errors"].([]any)
	tid, _ := r.body["trackingId"].(string)
	if msg == "" || len(errs) != 1 || !strings.HasPrefix(tid, "ROUTER_") || r.header.Get("TrackingID") != tid {
		t.Fatalf("not Webex's error JSON: %s (TrackingID %q)", r.raw, r.header.Get("TrackingID"))
	}
	return msg
}

const booking = `{"Id":"evt-1","Title":"Weekly sync","Organizer":{"Name":"Ada"},"Time":{"StartTime":"2026-03-02T10:00:00Z","Duration":30,"StartTimeBuffer":300},"Number":"meet@example.com","Protocol":"SIP"}`
