package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// signInFake is the fixture's agent with one delegated integration.
type signInFake struct {
	*fakeAgent
	mu       sync.Mutex
	started  []string
	signOuts []string
	si       SignIn
}

func (a *signInFake) SignIns() []SignIn {
	a.mu.Lock()
	defer a.mu.Unlock()
	return []SignIn{a.si}
}

func (a *signInFake) StartSignIn(_ context.Context, name string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.started = append(a.started, name)
	a.si.Flow = &SignInFlow{State: FlowWaiting, VerificationURI: "https://microsoft.com/devicelogin", UserCode: "FJX3KQ2PL",
		Expires: fixtureNow.Add(15 * time.Minute), Started: fixtureNow}
	return nil
}

func (a *signInFake) SignOut(_ context.Context, name string) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.signOuts = append(a.signOuts, name)
	had := a.si.SignedIn
	a.si = SignIn{Integration: name}
	return had, nil
}

func signInServer(t *testing.T) (*Server, *signInFake) {
	t.Helper()
	f := newFixture(t, fixtureOpts{})
	a := &signInFake{fakeAgent: f.agent, si: SignIn{Integration: "m365", SignedIn: true, User: "svc-otj@contoso.example",
		SignedInAt: fixtureNow.Add(-time.Hour), Scopes: "Calendars.Read.Shared offline_access", LastRefresh: fixtureNow.Add(-time.Minute)}}
	s, err := New(Options{Store: f.store, Health: f.health, Agent: a, Clock: f.clock, Location: oslo, TokenFile: TokenPath(f.cfg.StateDir)})
	require.NoError(t, err)
	return s, a
}

func signInRequest(s *Server, method, path, remote string, form url.Values, headers ...string) *httptest.ResponseRecorder {
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, "http://127.0.0.1:8787"+path, body)
	req.RemoteAddr = remote
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

// The Sign-in page shows who is signed in (never a token) to everyone who may read the page,
// and the buttons, with their form key, only to a browser on this machine.
func TestSignInPageButtonsOnlyOnThisMachine(t *testing.T) {
	s, _ := signInServer(t)
	local := signInRequest(s, http.MethodGet, "/signin", "127.0.0.1:50000", nil)
	require.Equal(t, http.StatusOK, local.Code)
	page := local.Body.String()
	require.Contains(t, page, `<a href="/signin" aria-current="page">Sign-in</a>`)
	require.Contains(t, page, "svc-otj@contoso.example")
	require.Contains(t, page, "Calendars.Read.Shared offline_access")
	require.Contains(t, page, `class="signin-button"`)
	require.Contains(t, page, `class="signout-button"`)
	require.Contains(t, page, s.formKey())
	require.NotContains(t, page, s.Token(), "the action token itself is never on a page")

	remote := signInRequest(s, http.MethodGet, "/signin", "192.0.2.7:50000", nil).Body.String()
	require.Contains(t, remote, "svc-otj@contoso.example")
	require.NotContains(t, remote, "signin-button")
	require.NotContains(t, remote, s.formKey())
	require.Contains(t, remote, "otj-edge auth login m365")
}

// The buttons are refused without this start's form key, from another site, or from another
// machine; with all three right they start the flow (the page then shows the code) or sign out.
func TestSignInActionsNeedThisMachineThisPageAndTheKey(t *testing.T) {
	s, a := signInServer(t)
	key := url.Values{"key": {s.formKey()}}
	for name, rec := range map[string]*httptest.ResponseRecorder{
		"no key":        signInRequest(s, http.MethodPost, "/signin/m365/login", "127.0.0.1:50000", url.Values{}, "Sec-Fetch-Site", "same-origin"),
		"wrong key":     signInRequest(s, http.MethodPost, "/signin/m365/login", "127.0.0.1:50000", url.Values{"key": {strings.Repeat("0", 64)}}, "Sec-Fetch-Site", "same-origin"),
		"another site":  signInRequest(s, http.MethodPost, "/signin/m365/login", "127.0.0.1:50000", key, "Sec-Fetch-Site", "cross-site"),
		"other machine": signInRequest(s, http.MethodPost, "/signin/m365/login", "192.0.2.7:50000", key, "Sec-Fetch-Site", "same-origin"),
	} {
		require.Equal(t, http.StatusForbidden, rec.Code, name)
	}
	require.Empty(t, a.started)

	rec := signInRequest(s, http.MethodPost, "/signin/nope/login", "127.0.0.1:50000", key, "Sec-Fetch-Site", "same-origin")
	require.Equal(t, http.StatusNotFound, rec.Code)

	rec = signInRequest(s, http.MethodPost, "/signin/m365/login", "127.0.0.1:50000", key, "Sec-Fetch-Site", "same-origin")
	require.Equal(t, http.StatusSeeOther, rec.Code)
	require.Equal(t, "/signin?done=login", rec.Header().Get("Location"))
	require.Equal(t, []string{"m365"}, a.started)
	page := signInRequest(s, http.MethodGet, "/signin?done=login", "127.0.0.1:50000", nil).Body.String()
	require.Contains(t, page, "FJX3KQ2PL")
	require.Contains(t, page, "https://microsoft.com/devicelogin")
	require.Contains(t, page, `<meta http-equiv="refresh" content="3">`, "the page reloads while the flow waits")
	require.NotContains(t, page, "signin-button", "no second flow while one waits")

	rec = signInRequest(s, http.MethodPost, "/signin/m365/logout", "127.0.0.1:50000", key, "Sec-Fetch-Site", "same-origin")
	require.Equal(t, http.StatusSeeOther, rec.Code)
	require.Equal(t, "/signin?done=logout", rec.Header().Get("Location"))
	require.Equal(t, []string{"m365"}, a.signOuts)
	page = signInRequest(s, http.MethodGet, "/signin?done=logout", "127.0.0.1:50000", nil).Body.String()
	require.Contains(t, page, "Signed out")
	require.Contains(t, page, "Nobody is signed in")
}
