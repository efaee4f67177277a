package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/store"
)

// TestNoSecretInAnyPageOrAPIAnswer fetches every page and API document, runs every action,
// and checks that no configured secret appears, even one that slipped into the store (an
// error message quoting a password, say).
func TestNoSecretInAnyPageOrAPIAnswer(t *testing.T) {
	f := newFixture(t, fixtureOpts{credentials: true})
	// A driver that quoted a credential in its error would put it here: the pages and the
	// API must still never show it.
	require.NoError(t, f.store.Write(t.Context(), func(tx *store.Tx) error {
		r, _, err := tx.Room("room-c@example.com")
		if err != nil {
			return err
		}
		r.StatusDetail = "token request failed: client_secret=graph-client-secret-value-123 rejected"
		if err := tx.PutRoom(r); err != nil {
			return err
		}
		return tx.Emit(store.Event{Kind: "endpoint.auth_failed", Level: "error", Endpoint: "codec-a", Room: "room-a@example.com",
			Message: `login as admin/codec-a-secret-pass failed; mqtt "mqtt-secret-password-777" <poly-b-calendar-secret>`})
	}))
	f.health.Fail("mqtt", "broker refused password mqtt-secret-password-777")
	f.agent.mqtt.LastError = "not authorised (password mqtt-secret-password-777)"
	f.agent.mqtt.Broker = "tcp://oslo-hq:mqtt-secret-password-777@127.0.0.1:1883"

	auth := []string{"Authorization", "Basic " + basic("tech", "status-page-password-999")}
	var answers []string
	for _, path := range []string{
		"/", "/rooms", "/rooms/room-a@example.com", "/rooms/room-b@example.com", "/rooms/room-c@example.com",
		"/endpoints", "/events", "/events?level=error", "/rules", "/no-such-page",
		"/api/status", "/api/health", "/api/rooms", "/api/rooms/room-c@example.com", "/api/meetings",
		"/api/endpoints", "/api/events", "/api/nope",
	} {
		code, body := f.get(path, auth...)
		assert.NotEqual(t, http.StatusUnauthorized, code, path)
		answers = append(answers, path+"\n"+body)
	}
	// What the client sends itself is shown back as sent, never scrubbed (TestScrubberIsNoOracle):
	// the rules bench gets an invite without a secret here.
	form := url.Values{"profile": {"default"}, "invite": {"sip:1@vmr.example.com"}}
	_, body := f.post("/rules", "application/x-www-form-urlencoded", form.Encode(), auth...)
	answers = append(answers, "POST /rules\n"+body)
	token := []string{TokenHeader, f.server.Token()}
	for name, req := range map[string]string{
		"sync": `{}`, "push": `{"endpoint": "codec-a"}`, "reload": `{}`,
		"rules-test": `{"profile": "default", "invite": "sip:poly-b-calendar-secret@x"}`,
	} {
		_, body := f.post("/api/actions/"+name, "application/json", req, token...)
		answers = append(answers, "POST "+name+"\n"+body)
	}
	f.agent.reloadErr = errors.New("config.yaml:12: password status-page-password-999 is too short")
	_, body = f.post("/api/actions/reload", "application/json", `{}`, token...)
	answers = append(answers, "POST reload (failing)\n"+body)
	// Wrong logins get an answer too.
	_, body = f.get("/api/status", "Authorization", "Basic "+basic("tech", "wrong"))
	answers = append(answers, "wrong login\n"+body)

	for _, a := range answers {
		for _, secret := range fixtureSecrets {
			assert.NotContains(t, a, secret, "in the answer to %s", strings.SplitN(a, "\n", 2)[0])
		}
		assert.NotContains(t, a, f.server.Token())
	}
	joined := strings.Join(answers, "\n")
	assert.Contains(t, joined, "client_secret=[redacted] rejected", "the detail is shown with the secret taken out")
	assert.Contains(t, joined, "login as admin/[redacted] failed")
	assert.Contains(t, joined, "tcp://127.0.0.1:1883", "the broker is shown without its credentials")
}

func basic(user, pass string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, pass)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

func TestSecretValuesFindsEverySecretInTheConfig(t *testing.T) {
	f := newFixture(t, fixtureOpts{credentials: true})
	got := secretValues(f.cfg)
	assert.ElementsMatch(t, fixtureSecrets, got)
}

func TestBasicAuthWhenCredentialsAreSet(t *testing.T) {
	f := newFixture(t, fixtureOpts{credentials: true})
	code, body := f.get("/")
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.Contains(t, body, "log in")
	resp, err := f.http.Client().Get(f.http.URL + "/api/status")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, `Basic realm="otj-edge", charset="UTF-8"`, resp.Header.Get("WWW-Authenticate"))

	code, _ = f.get("/", "Authorization", "Basic "+basic("tech", "status-page-password-99"))
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _ = f.get("/", "Authorization", "Basic "+basic("admin", "status-page-password-999"))
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _ = f.get("/", "Authorization", "Basic "+basic("tech", "status-page-password-999"))
	assert.Equal(t, http.StatusOK, code)
	code, _ = f.get("/api/rooms", TokenHeader, f.server.Token())
	assert.Equal(t, http.StatusOK, code, "the CLI on this machine authenticates with the action token")
	code, _ = f.get("/api/rooms", TokenHeader, "0000")
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _ = f.get("/static/style.css")
	assert.Equal(t, http.StatusUnauthorized, code)
}

func TestWrongLoginsAreSlowedDown(t *testing.T) {
	f := newFixture(t, fixtureOpts{credentials: true})
	wrong := []string{"Authorization", "Basic " + basic("tech", "guess")}
	for i := range 20 {
		code, _ := f.get("/api/status", wrong...)
		require.Equal(t, http.StatusUnauthorized, code, "attempt %d", i+1)
	}
	right := []string{"Authorization", "Basic " + basic("tech", "status-page-password-999")}
	code, body := f.get("/api/status", right...)
	assert.Equal(t, http.StatusTooManyRequests, code, "after 20 wrong logins in a minute every login waits")
	assert.Contains(t, body, "too many failed logins")
	f.clock.Advance(time.Minute)
	code, _ = f.get("/api/status", right...)
	assert.Equal(t, http.StatusOK, code)
}

// TestWrongLoginsOfOneClientDoNotLockOutAnother: an attacker guessing passwords is slowed down
// from its own address only; the technician on another address logs in as usual.
func TestWrongLoginsOfOneClientDoNotLockOutAnother(t *testing.T) {
	f := newFixture(t, fixtureOpts{credentials: true})
	h := f.server.Handler()
	get := func(remote, user, pass string) (int, string) {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "http://127.0.0.1:8787/api/status", nil)
		req.RemoteAddr = remote
		req.SetBasicAuth(user, pass)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	const attacker, tech = "127.0.0.2:40000", "127.0.0.3:40000"
	for i := range 20 {
		code, _ := get(attacker, "tech", fmt.Sprintf("guess-%d", i))
		require.Equal(t, http.StatusUnauthorized, code, "attempt %d", i+1)
	}
	code, body := get(attacker, "tech", "status-page-password-999")
	assert.Equal(t, http.StatusTooManyRequests, code, "the guessing client waits, even with the right password")
	assert.Contains(t, body, "too many failed logins")
	code, _ = get("127.0.0.2:40001", "tech", "status-page-password-999")
	assert.Equal(t, http.StatusTooManyRequests, code, "another port of the same address is the same client")

	code, _ = get(tech, "tech", "status-page-password-999")
	assert.Equal(t, http.StatusOK, code, "another address is not locked out")
	code, _ = get(tech, "tech", "typo")
	assert.Equal(t, http.StatusUnauthorized, code, "and has its own count")

	// One host picks any address of its IPv6 /64: the /64 is the client.
	for i := range 20 {
		code, _ := get(fmt.Sprintf("[fd00:1:2:3::%x]:443", i+1), "tech", "guess")
		require.Equal(t, http.StatusUnauthorized, code)
	}
	code, _ = get("[fd00:1:2:3::ffff]:443", "tech", "status-page-password-999")
	assert.Equal(t, http.StatusTooManyRequests, code)
	code, _ = get("[fd00:1:2:4::1]:443", "tech", "status-page-password-999")
	assert.Equal(t, http.StatusOK, code)

	f.clock.Advance(time.Minute)
	code, _ = get(attacker, "tech", "status-page-password-999")
	assert.Equal(t, http.StatusOK, code, "a minute later the guessing client may log in again")
}

// TestLoginLimiterMemoryIsBounded: an attacker with many addresses cannot grow the table of
// clients without bound; the newest clients are still counted.
func TestLoginLimiterMemoryIsBounded(t *testing.T) {
	l := newAuthLimiter(3)
	l.cap = 100
	now := fixtureNow
	for i := range 1000 {
		client := authClient(fmt.Sprintf("10.0.%d.%d:1", i/256, i%256))
		for range 3 {
			l.fail(client, now)
		}
		require.True(t, l.limited(client, now), "client %d is counted", i)
		require.LessOrEqual(t, len(l.clients), 100)
		now = now.Add(time.Millisecond)
	}
	assert.False(t, l.limited(authClient("10.0.0.0:1"), now), "the oldest client was forgotten to make room")
	assert.False(t, l.limited(authClient("10.0.3.231:1"), now.Add(time.Minute)), "a window ends after a minute")
}

func TestForeignHostNamesAreRefusedWithoutCredentials(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.http.URL+"/api/status", nil)
	require.NoError(t, err)
	req.Host = "attacker.example:8787" // a DNS name rebound to 127.0.0.1
	resp, err := f.http.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode)
	for _, host := range []string{"localhost:8787", "127.0.0.1:8787", "[::1]:8787", "127.0.0.2"} {
		req.Host = host
		resp, err := f.http.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, host)
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	resp, err := f.http.Client().Get(f.http.URL + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'none'")
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
}

func TestActionsNeedTheTokenAndJSON(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	token := []string{TokenHeader, f.server.Token()}
	for _, tc := range []struct {
		name        string
		path        string
		contentType string
		body        string
		header      []string
		code        int
		msg         string
	}{
		{"no token", "/api/actions/reload", "application/json", "{}", nil, http.StatusForbidden, "need this start's token"},
		{"wrong token", "/api/actions/reload", "application/json", "{}", []string{TokenHeader, strings.Repeat("0", 64)}, http.StatusForbidden, "token"},
		{"a browser form", "/api/actions/reload", "application/x-www-form-urlencoded", "x=1", nil, http.StatusForbidden, "token"},
		{"form with token", "/api/actions/reload", "text/plain", "{}", token, http.StatusUnsupportedMediaType, "application/json"},
		{"unknown action", "/api/actions/reboot", "application/json", "{}", token, http.StatusNotFound, `no action "reboot"`},
		{"unknown key", "/api/actions/sync", "application/json", `{"rooms": "x"}`, token, http.StatusBadRequest, `unknown field "rooms"`},
		{"key of another action", "/api/actions/push", "application/json", `{"room": "room-a@example.com"}`, token, http.StatusBadRequest, "push does not take room"},
		{"unknown room", "/api/actions/sync", "application/json", `{"room": "nobody@example.com"}`, token, http.StatusNotFound, "room nobody@example.com is not configured"},
		{"unknown endpoint", "/api/actions/push", "application/json", `{"endpoint": "codec-z"}`, token, http.StatusNotFound, "endpoint codec-z is not configured"},
		{"push to a poly", "/api/actions/push", "application/json", `{"endpoint": "poly-b"}`, token, http.StatusBadRequest, "is a Poly endpoint"},
		{"get", "/api/actions/sync", "", "", token, http.StatusMethodNotAllowed, "POST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var code int
			var body string
			if tc.contentType == "" {
				code, body = f.get(tc.path, tc.header...)
			} else {
				code, body = f.post(tc.path, tc.contentType, tc.body, tc.header...)
			}
			assert.Equal(t, tc.code, code, body)
			var e apiError
			require.NoError(t, json.Unmarshal([]byte(body), &e), body)
			assert.Contains(t, e.Error, tc.msg)
		})
	}
	assert.Empty(t, f.agent.syncs)
	assert.Empty(t, f.agent.pushes)
	assert.Zero(t, f.agent.reloads)
}

func TestActionsRunOnTheAgent(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	token := []string{TokenHeader, f.server.Token()}
	act := func(name, body string) (int, ActionResult, string) {
		code, raw := f.post("/api/actions/"+name, "application/json", body, token...)
		var res ActionResult
		_ = json.Unmarshal([]byte(raw), &res)
		return code, res, raw
	}
	code, res, raw := act("sync", `{"room": "Room-A@example.com", "full": true}`)
	require.Equal(t, http.StatusOK, code, raw)
	assert.Equal(t, "full sync of room-a@example.com requested", res.Message)
	assert.Equal(t, fixtureNow.UTC(), res.RequestedAt.UTC())
	code, _, _ = act("sync", ``)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, []string{"room-a@example.com full=true", " full=false"}, f.agent.syncs)

	code, res, _ = act("push", `{"endpoint": "codec-a"}`)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "push to codec-a: 2 bookings pushed", res.Message)
	code, _, _ = act("push", `{}`)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, []string{"codec-a", ""}, f.agent.pushes)

	code, res, _ = act("reload", `{}`)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "config reloaded", res.Message)
	f.agent.reloadErr = errors.New("config.yaml:7: unknown key \"sate_dir\"")
	code, _, raw = act("reload", `{}`)
	assert.Equal(t, http.StatusUnprocessableEntity, code)
	assert.Contains(t, raw, `config not reloaded; the running config stays:\nconfig.yaml:7: unknown key \"sate_dir\"`)

	code, res, raw = act("rules-test", `{"profile": "strict", "event": {"subject": "S", "location": {"displayName": "sip:42@vmr.example.com"}}}`)
	require.Equal(t, http.StatusOK, code, raw)
	require.NotNil(t, res.Rules)
	assert.Equal(t, RulesResult{Rule: "fallback", Platform: "Other", Protocol: "SIP", Number: "42@vmr.example.com", Join: true, Subject: "S"}, *res.Rules)
	code, _, raw = act("rules-test", `{"event": {"subject": "S"}}`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, raw, "name a profile: one of default, strict")
	code, _, raw = act("rules-test", `{"profile": "default", "event": {"subject": "S"}, "invite": "x"}`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, raw, "not both")
}

func TestActionsOffWithoutTokenFile(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.server.opts.TokenFile = ""
	code, body := f.post("/api/actions/reload", "application/json", "{}", TokenHeader, f.server.Token())
	assert.Equal(t, http.StatusForbidden, code)
	assert.Contains(t, body, "turned off")
}

func TestRunRefusesNetworkAddressWithoutCredentials(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	for _, listen := range []string{"0.0.0.0:0", ":0", "192.0.2.10:8787", "status.example.com:8787"} {
		s, err := New(Options{Listen: listen, Store: f.store, Health: f.health, Agent: f.agent})
		require.NoError(t, err)
		err = s.Run(t.Context())
		require.Error(t, err, listen)
		assert.Contains(t, err.Error(), "refusing to serve on "+listen+" without status.username and status.password")
	}
	// A name that resolves to a routable address is caught on the address actually bound.
	s, err := New(Options{Store: f.store, Health: f.health, Agent: f.agent})
	require.NoError(t, err)
	ln := &fakeListener{addr: &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 8787}}
	err = s.Serve(t.Context(), ln)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refusing to serve on 192.0.2.10:8787")
	assert.True(t, ln.closed)

	// status.listen: off — nothing listens, Run just waits for the end.
	off, err := New(Options{Store: f.store, Health: f.health, Agent: f.agent})
	require.NoError(t, err)
	stopped, stop := context.WithCancel(t.Context())
	stop()
	require.NoError(t, off.Run(stopped))

	_, err = New(Options{Store: f.store, Health: f.health, Agent: f.agent, Username: "tech"})
	assert.EqualError(t, err, "status page: give both a username and a password, or neither")
}

type fakeListener struct {
	addr   net.Addr
	closed bool
}

func (l *fakeListener) Accept() (net.Conn, error) { return nil, errors.New("not listening") }
func (l *fakeListener) Close() error              { l.closed = true; return nil }
func (l *fakeListener) Addr() net.Addr            { return l.addr }

// TestServeWritesTheTokenFileAndRemovesIt runs the server on a real loopback socket.
func TestServeWritesTheTokenFileAndRemovesIt(t *testing.T) {
	f := newFixture(t, fixtureOpts{credentials: true})
	path := TokenPath(f.cfg.StateDir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.server.Serve(ctx, ln) }()

	// The token file is written before the server answers, so a CLI that reads the file can
	// always use it.
	c := &Client{BaseURL: "http://" + ln.Addr().String(), Token: f.server.Token()}
	res, err := c.Action(t.Context(), ActionPush, ActionRequest{Endpoint: "codec-a"})
	require.NoError(t, err)
	assert.True(t, res.OK)
	got, err := ReadToken(path)
	require.NoError(t, err)
	assert.Equal(t, f.server.Token(), got)
	assert.Len(t, got, 64)
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	}
	rooms, err := c.Rooms(t.Context())
	require.NoError(t, err)
	assert.Len(t, rooms, 3)

	cancel()
	require.NoError(t, <-done)
	_, err = os.Stat(path)
	assert.True(t, os.IsNotExist(err), "the token goes with the server")
	_, err = c.Rooms(t.Context())
	var unreachable *UnreachableError
	require.ErrorAs(t, err, &unreachable)
}

func TestRemoveTokenLeavesAnotherAgentsToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), TokenFileName)
	require.NoError(t, writeToken(path, "theirs"))
	removeToken(path, "mine")
	got, err := ReadToken(path)
	require.NoError(t, err)
	assert.Equal(t, "theirs", got)
}

func TestClientURL(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:8787":  "http://127.0.0.1:8787",
		":8787":           "http://127.0.0.1:8787",
		"0.0.0.0:8787":    "http://127.0.0.1:8787",
		"[::]:8787":       "http://[::1]:8787",
		"[::1]:9000":      "http://[::1]:9000",
		"localhost:8787":  "http://localhost:8787",
		"10.0.0.5:8787":   "http://10.0.0.5:8787",
		"status.lan:8787": "http://status.lan:8787",
	} {
		got, err := ClientURL(listen)
		require.NoError(t, err)
		assert.Equal(t, want, got, listen)
	}
	_, err := ClientURL("8787")
	assert.Error(t, err)
}

// TestScrubberIsNoOracle probes the page and the API the way an attacker on the box would
// guess a configured secret: send the guess where the answer repeats it, and look for
// "[redacted]". For every probe the answer to a guess equal to a secret and the answer to a
// wrong guess of the same length must be the same once the guess itself is taken out: nothing
// tells a right guess from a wrong one.
func TestScrubberIsNoOracle(t *testing.T) {
	f := newFixture(t, fixtureOpts{credentials: true})
	auth := []string{"Authorization", "Basic " + basic("tech", "status-page-password-999")}
	// A secret the server itself holds in the store must still be scrubbed on the same pages.
	require.NoError(t, f.store.Write(t.Context(), func(tx *store.Tx) error {
		return tx.Emit(store.Event{Kind: "endpoint.auth_failed", Level: "error", Endpoint: "codec-a", Room: "room-a@example.com",
			Message: "login as admin/codec-a-secret-pass failed"})
	}))
	form := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	probes := []struct {
		name string
		do   func(guess string) (int, string)
	}{
		{"GET /api/rooms/GUESS", func(g string) (int, string) { return f.get("/api/rooms/"+url.PathEscape(g), auth...) }},
		{"GET /rooms/GUESS", func(g string) (int, string) { return f.get("/rooms/"+url.PathEscape(g), auth...) }},
		{"GET /api/meetings?room=GUESS", func(g string) (int, string) { return f.get("/api/meetings?room="+url.QueryEscape(g), auth...) }},
		{"GET /events?room=GUESS", func(g string) (int, string) { return f.get("/events?room="+url.QueryEscape(g), auth...) }},
		{"GET /events?endpoint=GUESS", func(g string) (int, string) { return f.get("/events?endpoint="+url.QueryEscape(g), auth...) }},
		{"GET /api/events?room=GUESS", func(g string) (int, string) { return f.get("/api/events?room="+url.QueryEscape(g), auth...) }},
		{"GET /api/GUESS", func(g string) (int, string) { return f.get("/api/"+url.PathEscape(g), auth...) }},
		{"POST /endpoints/GUESS/retry", func(g string) (int, string) {
			return f.post("/endpoints/"+url.PathEscape(g)+"/retry", "application/x-www-form-urlencoded", "", auth...)
		}},
		{"POST /rules, the guess in the invite", func(g string) (int, string) {
			return f.post("/rules", "application/x-www-form-urlencoded",
				form("profile", "default", "invite", "Join: sip:"+g+"@vmr.example.com", "subject", g, "location", g), auth...)
		}},
		{"POST /rules, the guess as the profile", func(g string) (int, string) {
			return f.post("/rules", "application/x-www-form-urlencoded", form("profile", g, "invite", "sip:1@vmr.example.com"), auth...)
		}},
		{"POST /rules, the guess as a JSON event's start", func(g string) (int, string) {
			return f.post("/rules", "application/x-www-form-urlencoded",
				form("profile", "default", "format", "json", "invite", `{"start": {"dateTime": "`+g+`", "timeZone": "UTC"}}`), auth...)
		}},
	}
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			for _, secret := range fixtureSecrets {
				// The wrong guess differs in its last letter only, so even the lengths match.
				wrong := secret[:len(secret)-1] + string(rune(secret[len(secret)-1]^1))
				codeRight, right := p.do(secret)
				codeWrong, wrongBody := p.do(wrong)
				assert.Equal(t, codeWrong, codeRight, "the status tells a right guess from a wrong one")
				if !assert.Equal(t, strings.ReplaceAll(wrongBody, wrong, "GUESS"), strings.ReplaceAll(right, secret, "GUESS"),
					"the answer tells a right guess (%s) from a wrong one", secret) {
					return
				}
				assert.NotContains(t, right, "login as admin/codec-a-secret-pass", "what the server holds is still scrubbed")
			}
		})
	}
	// The rules bench stays useful: it shows what was pasted and what a room would dial.
	_, body := f.post("/rules", "application/x-www-form-urlencoded",
		form("profile", "default", "invite", "Join: sip:codec-c-secret-pass@vmr.example.com"), auth...)
	assert.Contains(t, body, "<code class=\"addr\">codec-c-secret-pass@vmr.example.com</code>")
	assert.Contains(t, body, ">Join: sip:codec-c-secret-pass@vmr.example.com</textarea>")
	_, body = f.get("/events?room=Room-A@example.com", auth...)
	assert.Contains(t, body, "login as admin/[redacted] failed", "the room's events are listed, scrubbed")
}

// TestEchoedInputIsEscaped: what the client sent goes back escaped for the answer's format,
// never as markup.
func TestEchoedInputIsEscaped(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	evil := `<script>alert("x")</script>&`
	code, body := f.get("/rooms/" + url.PathEscape(evil))
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, body, "room &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;: not found")
	assert.NotContains(t, body, "<script>")
	assert.NotContains(t, body, "otjecho", "no placeholder is left behind")

	code, body = f.get("/api/rooms/" + url.PathEscape(evil))
	assert.Equal(t, http.StatusNotFound, code)
	var e apiError
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	assert.Equal(t, `room <script>alert("x")</script>&: not found`, e.Error)
	assert.Contains(t, body, `\u003cscript\u003e`)

	code, body = f.get("/events?room=" + url.QueryEscape(`"><b>x`))
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `<input name="room" value="&#34;&gt;&lt;b&gt;x" placeholder="any">`)
}
