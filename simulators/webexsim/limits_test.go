package webexsim

import (
	"strings"
	"testing"
	"time"
)

// Past the limit a token gets 429 with Retry-After; asking again before it elapsed is a
// violation (counted, answered 429 again); after it, requests pass. Another token's bucket
// is untouched.
func TestRateLimitRetryAfterAndViolations(t *testing.T) {
	e := start(t, 1, func(o *Options) { o.RateLimit = 3; o.RateWindow = 10 * time.Second })
	tok := e.token()
	other := e.s.IssueTokens(nil).AccessToken
	for i := range 3 {
		if r := e.get("/devices", tok); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	e.clock.Advance(2500 * time.Millisecond)
	r := e.get("/devices", tok)
	webexError(t, r, 429)
	if ra := r.header.Get("Retry-After"); ra != "8" { // 7.5 s left in the window, rounded up
		t.Fatalf("Retry-After %q", ra)
	}
	if st := e.s.Stats(); st.Violations != 0 || st.RateLimited != 1 {
		t.Fatalf("after the first 429: %+v", st)
	}
	if got, want := blockedUntil(e.s.Stats()), e.clock.Now().Add(8*time.Second); len(got) != 1 || !got[0].Equal(want) {
		t.Fatalf("blocked until %v, want one token until %v", got, want)
	}
	if r := e.get("/devices", other); r.status != 200 {
		t.Fatalf("other token limited: %d", r.status)
	}
	e.clock.Advance(7 * time.Second)
	r = e.get("/devices", tok)
	webexError(t, r, 429)
	if ra := r.header.Get("Retry-After"); ra != "1" {
		t.Fatalf("Retry-After %q", ra)
	}
	if st := e.s.Stats(); st.Violations != 1 || st.RateLimited != 2 {
		t.Fatalf("early retry not counted: %+v", st)
	}
	e.clock.Advance(time.Second)
	if got := blockedUntil(e.s.Stats()); len(got) != 0 {
		t.Fatalf("a Retry-After that elapsed is still reported: %v", got)
	}
	if r := e.get("/devices", tok); r.status != 200 {
		t.Fatalf("after Retry-After: %d %s", r.status, r.raw)
	}
	a := e.admin("GET", "/stats", "")
	if !strings.Contains(a.raw, `"violations": 1`) {
		t.Fatalf("admin stats: %s", a.raw)
	}
}

// A token refreshed from the same authorisation shares the bucket (the limit is per
// authorisation, not per access-token string).
func TestRateLimitIsPerAuthorisation(t *testing.T) {
	e := start(t, 0, func(o *Options) { o.RateLimit = 1 })
	r := e.refresh(e.s.InitialRefreshToken())
	tok1 := r.body["access_token"].(string)
	tok2 := e.refresh(r.body["refresh_token"].(string)).body["access_token"].(string)
	if r := e.get("/devices", tok1); r.status != 200 {
		t.Fatal(r.raw)
	}
	webexError(t, e.get("/devices", tok2), 429)
}

func TestInjectedBurstAndServerErrors(t *testing.T) {
	e := start(t, 1, nil)
	tok := e.token()
	if a := e.admin("POST", "/faults", `{"rate_limit_count":1,"rate_limit_retry_after_s":5,"error_status":503,"error_count":2,"error_path_prefix":"/v1/xapi/"}`); a.status != 200 {
		t.Fatalf("faults: %s", a.raw)
	}
	r := e.get("/devices", tok)
	webexError(t, r, 429)
	if r.header.Get("Retry-After") != "5" {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	e.clock.Advance(5 * time.Second)
	if r := e.get("/devices", tok); r.status != 200 {
		t.Fatalf("after the burst: %d", r.status)
	}
	id := e.ids[0]
	webexError(t, e.get("/xapi/status?deviceId="+id+"&name=Bookings.Current.Id", tok), 503)
	webexError(t, e.command(tok, "Bookings.Put", put(id, booking)), 503)
	if r := e.command(tok, "Bookings.Put", put(id, booking)); r.status != 200 {
		t.Fatalf("after the errors: %d %s", r.status, r.raw)
	}
	st := e.s.Stats()
	if st.ByStatus[503] != 2 || st.ByStatus[429] != 1 || st.Violations != 0 || st.ByEndpoint["POST /v1/xapi/command/{name}"] != 2 {
		t.Fatalf("stats %+v", st)
	}
	if f := e.admin("GET", "/faults", ""); !strings.Contains(f.raw, `"error_count": 0`) {
		t.Fatalf("faults left: %s", f.raw)
	}
}

func TestSettingsAndLatency(t *testing.T) {
	e := start(t, 0, nil)
	a := e.admin("PATCH", "/settings", `{"rate_limit":1,"access_token_ttl_s":60}`)
	if a.status != 200 || !strings.Contains(a.raw, `"rate_limit": 1`) {
		t.Fatalf("settings: %s", a.raw)
	}
	r := e.refresh(e.s.InitialRefreshToken())
	if r.body["expires_in"].(float64) != 60 {
		t.Fatalf("ttl: %s", r.raw)
	}
	e.s.SetSettings(Settings{LatencyMS: 30})
	began := time.Now()
	e.get("/devices", r.body["access_token"].(string))
	if time.Since(began) < 30*time.Millisecond {
		t.Fatal("latency not applied")
	}
}

func TestAdminDeviceControls(t *testing.T) {
	e := start(t, 1, nil)
	a := e.admin("POST", "/devices", `{"display_name":"Lobby Desk","workspace":"Lobby","email":"lobby@contoso.example"}`)
	if a.status != 200 || a.body["id"] == "" {
		t.Fatalf("add: %s", a.raw)
	}
	l := e.admin("GET", "/devices", "")
	if !strings.Contains(l.raw, `"email": "lobby@contoso.example"`) || !strings.Contains(l.raw, `"connection_status": "connected"`) {
		t.Fatalf("list: %s", l.raw)
	}
	if a := e.admin("POST", "/devices/nope/connection", `{"status":"disconnected"}`); a.status != 404 {
		t.Fatalf("unknown device: %d", a.status)
	}
	if a := e.admin("POST", "/devices/Lobby%20Desk/connection", `{"status":"asleep"}`); a.status != 400 {
		t.Fatalf("bad status: %d", a.status)
	}
	if a := e.admin("POST", "/devices/Lobby%20Desk/foreign-put", `{"Bookings":[`+booking+`]}`); a.status != 200 {
		t.Fatalf("foreign put: %s", a.raw)
	}
	p := e.admin("GET", "/devices/Lobby%20Desk/puts", "")
	if !strings.Contains(p.raw, `"source": "admin"`) {
		t.Fatalf("puts: %s", p.raw)
	}
	if s := e.admin("GET", "/devices/Lobby%20Desk/stats", ""); s.status != 200 {
		t.Fatalf("stats: %s", s.raw)
	}
}

// blockedUntil lists the Retry-After ends the stats report as in force.
func blockedUntil(st Stats) []time.Time {
	var out []time.Time
	for _, tl := range st.Tokens {
		if tl.BlockedUntil != nil {
			out = append(out, *tl.BlockedUntil)
		}
	}
	return out
}
