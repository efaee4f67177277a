package graph

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/agent/tokenvault"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
)

const svcUser = "svc-otj@contoso.example"

// delegatedHarness is a harness whose integration reads through a signed-in account (a public
// client: no secret), its token vault in the store's directory.
func delegatedHarness(t *testing.T, mailboxes ...string) *harness {
	t.Helper()
	h := newHarness(t, graphsim.Options{}, mailboxes...)
	h.in.Auth = AuthDelegated
	h.in.ClientSecret = secret.Secret{}
	h.in.Tokens = tokenvault.New(filepath.Dir(h.dbPath))
	for _, m := range mailboxes {
		h.addRoom(m, graphsim.Recommended())
	}
	return h
}

// loginRun is a device-code sign-in in progress, on its own fake clock.
type loginRun struct {
	t       *testing.T
	clk     *clock.Fake
	created <-chan struct{}
	code    DeviceCode
	done    chan struct{}
	info    AccountInfo
	err     error
}

func (h *harness) beginLogin() *loginRun {
	h.t.Helper()
	l := &loginRun{t: h.t, clk: clock.NewFake(t0), done: make(chan struct{})}
	l.created = l.clk.TimerCreated()
	codes := make(chan DeviceCode, 1)
	go func() {
		defer close(l.done)
		l.info, l.err = Login(context.Background(), LoginOptions{Integration: h.in, Clock: l.clk,
			Prompt: func(dc DeviceCode) error { codes <- dc; return nil }})
	}()
	select {
	case l.code = <-codes:
	case <-l.done:
		h.t.Fatalf("login ended before prompting: %v", l.err)
	}
	return l
}

// poll checks the login's wait before its next poll, lets it poll, and waits until it has
// handled the answer (it waits for the next poll again, or it ended).
func (l *loginRun) poll(want time.Duration) {
	l.t.Helper()
	select {
	case <-l.created:
	case <-l.done:
		l.t.Fatalf("login ended: %v", l.err)
	}
	require.Equal(l.t, []time.Duration{want}, l.clk.Pending(), "the wait before the next poll")
	l.created = l.clk.TimerCreated()
	l.clk.Advance(want)
	select {
	case <-l.created:
		closed := make(chan struct{})
		close(closed)
		l.created = closed
	case <-l.done:
	}
}

func (l *loginRun) wait() (AccountInfo, error) {
	l.t.Helper()
	select {
	case <-l.done:
	case <-time.After(30 * time.Second):
		l.t.Fatal("login did not end")
	}
	return l.info, l.err
}

// login signs svcUser in (one pending poll, then approved).
func (h *harness) login() AccountInfo {
	h.t.Helper()
	l := h.beginLogin()
	l.poll(graphsim.DeviceCodeInterval)
	require.NoError(h.t, h.sim.ApproveCode(l.code.UserCode, svcUser))
	l.poll(graphsim.DeviceCodeInterval)
	info, err := l.wait()
	require.NoError(h.t, err)
	return info
}

func storedAccount(t *testing.T, in Integration) Account {
	t.Helper()
	a, _, err := loadAccount(in)
	require.NoError(t, err)
	return a
}

func TestDelegatedLoginApproved(t *testing.T) {
	h := delegatedHarness(t)
	l := h.beginLogin()
	require.Contains(t, l.code.Message, l.code.UserCode)
	require.Contains(t, l.code.VerificationURI, "/devicelogin")
	l.poll(5 * time.Second) // authorization_pending: keep polling at the interval
	require.NoError(t, h.sim.ApproveCode(l.code.UserCode, svcUser))
	l.poll(5 * time.Second)
	info, err := l.wait()
	require.NoError(t, err)
	require.Equal(t, svcUser, info.User)
	require.Contains(t, info.Scopes, "Calendars.Read.Shared")
	require.Equal(t, t0.Add(10*time.Second), info.SignedInAt)
	st, err := Status(h.in)
	require.NoError(t, err)
	require.True(t, st.SignedIn)
	require.Equal(t, svcUser, st.User)
	// The refresh token is in the vault, and nowhere in the state directory in clear.
	rt := storedAccount(t, h.in).RefreshToken
	require.NotEmpty(t, rt)
	requireNowhere(t, filepath.Dir(h.dbPath), rt)
}

func TestDelegatedLoginDeclinedExpiredSlowDown(t *testing.T) {
	h := delegatedHarness(t)
	l := h.beginLogin()
	require.NoError(t, h.sim.DeclineCode(l.code.UserCode))
	l.poll(5 * time.Second)
	_, err := l.wait()
	require.ErrorIs(t, err, ErrLoginDeclined)
	require.ErrorContains(t, err, "otj-edge auth login m365")

	l = h.beginLogin()
	require.NoError(t, h.sim.ExpireCode(l.code.UserCode))
	l.poll(5 * time.Second)
	_, err = l.wait()
	require.ErrorIs(t, err, ErrLoginExpired)

	// slow_down adds 5 s to every later wait (RFC 8628 §3.5).
	n := 1
	h.sim.SetDelegated(graphsim.DelegatedSettings{SlowDown: &n})
	l = h.beginLogin()
	l.poll(5 * time.Second)  // answered slow_down
	l.poll(10 * time.Second) // pending
	require.NoError(t, h.sim.ApproveCode(l.code.UserCode, svcUser))
	l.poll(10 * time.Second)
	info, err := l.wait()
	require.NoError(t, err)
	require.Equal(t, svcUser, info.User)
	st, _ := Status(h.in)
	require.True(t, st.SignedIn)
}

func TestDelegatedLoginBlockedByConditionalAccess(t *testing.T) {
	h := delegatedHarness(t)
	block := true
	h.sim.SetDelegated(graphsim.DelegatedSettings{BlockDeviceCode: &block})
	l := h.beginLogin()
	require.NoError(t, h.sim.ApproveCode(l.code.UserCode, svcUser))
	l.poll(5 * time.Second)
	_, err := l.wait()
	require.ErrorContains(t, err, "AADSTS53003")
	require.ErrorContains(t, err, "device code flow")
	require.ErrorContains(t, err, "app-only with a client certificate")
	st, _ := Status(h.in)
	require.False(t, st.SignedIn)
}

// requireNowhere fails when needle's bytes are in any file under dir.
func requireNowhere(t *testing.T, dir, needle string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.False(t, bytes.Contains(b, []byte(needle)), "%s holds the refresh token in clear", p)
		return nil
	}))
}

func TestDelegatedRoomsWithAndWithoutDelegateAccess(t *testing.T) {
	a, b := roomName(1), roomName(2)
	h := delegatedHarness(t, a, b)
	h.post(a, invite("Readable", t0.Add(time.Hour), 30*time.Minute))
	h.post(b, invite("Not shared", t0.Add(time.Hour), 30*time.Minute))
	require.NoError(t, h.sim.GrantDelegate(a, svcUser, true))
	h.login()
	s, _ := h.start(Tuning{})
	h.waitFor("a synced, b denied", func() bool { return h.synced(a)() && h.status(b)() == store.RoomPolicyDenied })
	require.Len(t, h.events(a), 1)
	require.Contains(t, h.room(b).StatusDetail,
		`Add-MailboxFolderPermission -Identity `+b+`:\Calendar -User `+svcUser+` -AccessRights Reviewer`)
	require.Empty(t, h.events(b))
	// The admin grants access: the room syncs at the next try.
	require.NoError(t, h.sim.GrantDelegate(b, svcUser, true))
	require.NoError(t, s.SyncNow(b, false))
	h.waitFor("b synced", h.synced(b))
	require.Len(t, h.events(b), 1)
	require.Zero(t, h.sim.DelegatedStats().LinkDenied, "a delegated round never follows a link")
}

// A room with more meetings than one calendarView request returns is read in several windows
// (never through the nextLink Graph refuses) and ends with the same stored meetings as an
// app-only delta sync of the same calendar.
func TestDelegatedWindowsGiveTheSameMeetingsAsAppOnly(t *testing.T) {
	defer func(v int) { viewTop = v }(viewTop)
	viewTop = 3
	m := roomName(1)
	h := delegatedHarness(t, m)
	require.NoError(t, h.sim.GrantDelegate(m, svcUser, true))
	for i := range 7 {
		h.post(m, invite("Single", t0.Add(time.Duration(i+1)*time.Hour), 30*time.Minute))
	}
	series := invite("Daily", t0.Add(30*time.Minute), 15*time.Minute)
	series["recurrence"] = map[string]any{
		"pattern": map[string]any{"type": "daily", "interval": 1},
		"range":   map[string]any{"type": "noEnd", "startDate": t0.Format("2006-01-02")},
	}
	master := h.post(m, series)
	_, err := h.sim.PatchEvent(m, h.instanceAt(m, master, t0.Add(24*time.Hour+30*time.Minute)), map[string]any{"subject": "Moved daily"})
	require.NoError(t, err)
	h.login()
	_, stop := h.start(Tuning{})
	h.waitFor("delegated sync", h.synced(m))
	stop()
	require.Greater(t, h.stats(m).CalendarViews, 3, "several windows")
	require.Zero(t, h.sim.DelegatedStats().LinkDenied)
	delegated := h.eventJSON(m)

	// The same calendar through app-only delta, in a store of its own.
	app := *h
	app.in.Auth, app.in.Tokens, app.in.ClientSecret = "", nil, secret.New(h.sim.ClientSecret())
	app.dbPath = filepath.Join(t.TempDir(), "app.db")
	app.openStore()
	_, stop = app.start(Tuning{})
	app.waitFor("app-only sync", app.synced(m))
	stop()
	require.Equal(t, app.eventJSON(m), delegated)
	require.Greater(t, len(delegated), 10)

	// A meeting cancelled in Graph goes at the next delegated round (the sweep).
	h2 := *h
	h2.openStore()
	require.NoError(t, h.sim.DeleteEvent(m, firstKey(h.eventsOfSubject(m, "Single"))))
	s, _ := h2.start(Tuning{})
	require.NoError(t, s.SyncNow(m, false))
	h2.waitFor("the deleted meeting gone", func() bool { return len(h2.eventJSON(m)) == len(delegated)-1 })
}

// eventJSON is the room's stored event documents by id.
func (h *harness) eventJSON(m string) map[string]string {
	h.t.Helper()
	var ids []string
	for id := range h.events(m) {
		ids = append(ids, id)
	}
	data, err := h.st.EventData(context.Background(), m, ids)
	require.NoError(h.t, err)
	out := map[string]string{}
	for id, b := range data {
		out[id] = string(b)
	}
	return out
}

func (h *harness) eventsOfSubject(m, subject string) map[string]bool {
	out := map[string]bool{}
	for id, js := range h.eventJSON(m) {
		if strings.Contains(js, `"subject":"`+subject+`"`) {
			out[id] = true
		}
	}
	return out
}

func firstKey(m map[string]bool) string {
	for k := range m {
		return k
	}
	return ""
}

// refreshWith posts a refresh_token grant to graphsim directly.
func (h *harness) refreshWith(rt string) (int, string) {
	resp, err := h.sim.HTTPClient().PostForm(h.sim.TokenURL(), url.Values{"grant_type": {"refresh_token"},
		"client_id": {h.sim.ClientID()}, "refresh_token": {rt}})
	require.NoError(h.t, err)
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func TestDelegatedRotationRestartRevocationRecoveryLogout(t *testing.T) {
	m := roomName(1)
	h := delegatedHarness(t, m)
	require.NoError(t, h.sim.GrantDelegate(m, svcUser, true))
	h.post(m, invite("Standup", t0.Add(time.Hour), 30*time.Minute))
	var logs bytes.Buffer
	withLogs := func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h.login()
	first := storedAccount(t, h.in).RefreshToken
	s, stop := h.start(Tuning{}, withLogs)
	h.waitFor("synced", h.synced(m))
	// The first access token came from the stored refresh token, which Entra rotated: the new
	// one is sealed, and the old one is refused.
	rotated := storedAccount(t, h.in)
	require.NotEqual(t, first, rotated.RefreshToken)
	require.False(t, rotated.LastRefresh.IsZero())
	st, body := h.refreshWith(first)
	require.Equal(t, http.StatusBadRequest, st)
	require.Contains(t, body, "invalid_grant")

	// A restart needs no new sign-in: the new process's first token comes from the stored
	// refresh token (rotated again).
	stop()
	h.clk.Advance(time.Minute)
	s, stop = h.start(Tuning{}, withLogs)
	h.waitFor("synced after restart", func() bool { return h.synced(m)() && h.room(m).LastFullSync.Equal(h.clk.Now()) })
	requireOK(t, h, m)
	require.NotEqual(t, rotated.RefreshToken, storedAccount(t, h.in).RefreshToken)

	// The admin revokes the account's sessions: the next refresh gets invalid_grant.
	// (The syncer fetches a new token after a 401 at most once in 5 minutes.)
	h.advance(s, 6*time.Minute, time.Minute)
	h.sim.RevokeUser(svcUser)
	require.NoError(t, h.sim.SetApp(graphsim.AppSettings{RevokeTokens: true}))
	require.NoError(t, s.SyncNow(m, false))
	h.waitFor("auth_failed", func() bool { return h.status(m)() == store.RoomAuthFailed })
	detail := h.room(m).StatusDetail
	require.Contains(t, detail, "AADSTS50173")
	require.Contains(t, detail, "run otj-edge auth login m365")
	require.Contains(t, detail, "Microsoft recommends blocking the device-code flow")
	h.waitFor("the integration event", func() bool {
		for _, e := range h.recentEvents(EventSyncError) {
			if e.Room == "" && strings.Contains(e.Message, "run otj-edge auth login m365") {
				return true
			}
		}
		return false
	})
	h.waitFor("health", func() bool { return strings.Contains(healthOf(h, "graph/m365"), "run otj-edge auth login m365") })

	// A new sign-in while the agent runs: it recovers without a restart.
	h.login()
	h.settle(s)
	require.NoError(t, s.SyncNow("", false))
	h.waitFor("recovered", func() bool { return h.status(m)() == store.RoomOK })
	require.NotEmpty(t, h.recentEvents(EventSyncRecovered))

	// auth logout: the running agent's rooms say so at their next request.
	rt := storedAccount(t, h.in).RefreshToken
	h.settle(s) // a step still running would schedule the room after SyncNow's request
	ok, err := Logout(h.in)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.SyncNow(m, false))
	h.waitFor("signed out", func() bool {
		return strings.HasPrefix(h.room(m).StatusDetail, "signed out: run otj-edge auth login m365")
	})
	require.Equal(t, store.RoomAuthFailed, h.room(m).Status)
	stop()

	// Never in the logs, the store (which the API, MQTT and the page read) or health.
	for _, tok := range []string{first, rotated.RefreshToken, rt} {
		require.NotContains(t, logs.String(), tok)
		requireNowhere(t, filepath.Dir(h.dbPath), tok)
		for _, c := range h.health.Snapshot() {
			require.NotContains(t, c.Message, tok)
		}
	}
}

func requireOK(t *testing.T, h *harness, m string) {
	t.Helper()
	require.Equal(t, store.RoomOK, h.room(m).Status, h.room(m).StatusDetail)
}

// otj-edge check reads the rooms through the signed-in account, and says "signed out" when
// nobody is, without any token in its lines.
func TestDelegatedCheck(t *testing.T) {
	m := roomName(1)
	h := delegatedHarness(t, m)
	rep := Check(context.Background(), h.in, []string{m}, nil)
	require.False(t, rep.TokenOK)
	require.Contains(t, rep.TokenDetail, "signed out: run otj-edge auth login m365")
	h.login()
	require.NoError(t, h.sim.GrantDelegate(m, svcUser, true))
	rep = Check(context.Background(), h.in, []string{m}, nil)
	require.True(t, rep.TokenOK, rep.TokenDetail)
	require.Equal(t, store.RoomOK, rep.Rooms[0].Status, rep.Rooms[0].Detail)
	lines, _ := rep.Lines()
	rt := storedAccount(t, h.in).RefreshToken
	for _, l := range lines {
		require.NotContains(t, l, rt)
	}
}

func healthOf(h *harness, component string) string {
	for _, c := range h.health.Snapshot() {
		if c.Component == component {
			return c.Message
		}
	}
	return ""
}
