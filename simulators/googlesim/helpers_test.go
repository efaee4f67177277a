package googlesim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// testClock is the simulators' clock: real time plus an offset tests move (assertions are
// signed with the real time by x/oauth2, so the clock stays near it).
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

type env struct {
	t   *testing.T
	clk *testClock
	gs  *graphsim.Server
	g   *Server
	key []byte
}

const (
	room1 = "room-01@contoso.example"
	room2 = "room-02@contoso.example"
)

func newEnv(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	clk := &testClock{}
	gs, err := graphsim.New(graphsim.Options{Now: clk.Now})
	require.NoError(t, err)
	for _, r := range []string{room1, room2} {
		require.NoError(t, gs.AddRoom(graphsim.Room{Mailbox: r, Processing: ptr(graphsim.Recommended())}))
	}
	opts := Options{Calendar: gs, Now: clk.Now, WatchInterval: 10 * time.Millisecond}
	if mod != nil {
		mod(&opts)
	}
	g, err := New(opts)
	require.NoError(t, err)
	require.NoError(t, g.Start())
	t.Cleanup(g.Close)
	key, err := g.KeyFile("")
	require.NoError(t, err)
	return &env{t: t, clk: clk, gs: gs, g: g, key: key}
}

func ptr[T any](v T) *T { return &v }

// ctx carries an HTTP client trusting the simulator's CA, for x/oauth2's token requests.
func (e *env) ctx() context.Context {
	return context.WithValue(e.t.Context(), oauth2.HTTPClient, e.g.HTTPClient())
}

// jwtConfig is what a production client builds from the key file.
func (e *env) jwtConfig(subject string, scopes ...string) *jwt.Config {
	e.t.Helper()
	if len(scopes) == 0 {
		scopes = []string{calendar.CalendarReadonlyScope}
	}
	cfg, err := google.JWTConfigFromJSON(e.key, scopes...)
	require.NoError(e.t, err)
	cfg.Subject = subject
	return cfg
}

// service is a Calendar client as production builds it: the key file's JWT config as the
// HTTP client and the simulator as the endpoint.
func (e *env) service(subject string, scopes ...string) *calendar.Service {
	e.t.Helper()
	svc, err := calendar.NewService(e.ctx(), option.WithEndpoint(e.g.CalendarEndpoint()),
		option.WithHTTPClient(e.jwtConfig(subject, scopes...).Client(e.ctx())))
	require.NoError(e.t, err)
	return svc
}

func (e *env) admin() *calendar.Service { return e.service(e.g.AdminUser()) }

// post adds a meeting to a room through graphsim (the organizer's invite).
func (e *env) post(room, subject, body string, start time.Time, dur time.Duration, extra map[string]any) string {
	e.t.Helper()
	ev := map[string]any{
		"subject":   subject,
		"body":      map[string]any{"contentType": "html", "content": body},
		"start":     map[string]any{"dateTime": start.UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end":       map[string]any{"dateTime": start.Add(dur).UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"organizer": map[string]any{"emailAddress": map[string]any{"name": "Ada Lovelace", "address": "ada@contoso.example"}},
	}
	for k, v := range extra {
		ev[k] = v
	}
	id, err := e.gs.PostEvent(room, ev)
	require.NoError(e.t, err)
	return id
}

func apiErr(t *testing.T, err error) *googleapi.Error {
	t.Helper()
	var ge *googleapi.Error
	require.True(t, errors.As(err, &ge), "want a *googleapi.Error, got %v", err)
	return ge
}

func reason(ge *googleapi.Error) string {
	if len(ge.Errors) == 0 {
		return ""
	}
	return ge.Errors[0].Reason
}

// tokenErr is the token endpoint's refusal as x/oauth2/jwt hands it back (the status and the
// raw body, which it does not parse).
type tokenErr struct {
	Status      int
	ErrorCode   string `json:"error"`
	Description string `json:"error_description"`
}

func retrieveErr(t *testing.T, err error) tokenErr {
	t.Helper()
	var re *oauth2.RetrieveError
	require.True(t, errors.As(err, &re), "want an *oauth2.RetrieveError, got %v", err)
	out := tokenErr{Status: re.Response.StatusCode}
	require.NoError(t, json.Unmarshal(re.Body, &out), string(re.Body))
	return out
}

// rawGet calls the API with a bare bearer token (to show what a stale token gets).
func (e *env) rawGet(path, token string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodGet, e.g.BaseURL()+path, nil)
	require.NoError(e.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.g.HTTPClient().Do(req)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func ptrDur(d time.Duration) *graphsim.Duration { v := graphsim.Duration(d); return &v }

// mustView is graphsim's calendar view of room1 for the day around t.
func mustView(e *env, t time.Time) []graphsim.SharedItem {
	e.t.Helper()
	items, err := e.gs.ViewItems(room1, t.Add(-time.Hour), t.Add(time.Hour))
	require.NoError(e.t, err)
	return items
}

func graphsimRoom(mb string) graphsim.Room {
	return graphsim.Room{Mailbox: mb, Processing: ptr(graphsim.Recommended())}
}
