package agent

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/store"
)

// chromiumFor finds a Chromium to drive: skipped locally without one, a failure in CI.
func chromiumFor(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; CI must run the browser tests (apt-get install chromium)")
	}
	t.Skip("chromium is not installed; install it (apt-get install chromium) to run the browser test")
	return ""
}

func headless(t *testing.T) context.Context {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(t.Context(), chromedp.ExecPath(chromiumFor(t)), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()))
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	return ctx
}

// TestBrowserSignsInAndOut drives the status page's Sign-in page in headless Chromium on a
// running agent whose Graph integration is delegated and nobody has signed in: "Sign in"
// shows graphsim's verification URL and code, the service account approves it (graphsim's
// admin call), the page says "Signed in as …" and the rooms sync; "Sign out" deletes the
// token and the rooms turn auth_failed "signed out".
func TestBrowserSignsInAndOut(t *testing.T) {
	d := newDelegatedSite(t)
	ctx := headless(t)
	d.start()
	d.waitRooms("rooms signed out before any sign-in", roomSignedOut)

	base := strings.TrimSuffix(d.f.Agent.StatusURL, "/")
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, sel)
		return s
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`nav a[href="/signin"]`)),
		chromedp.Click(chromedp.CSS(`nav a[href="/signin"]`)), chromedp.WaitVisible(chromedp.CSS("#signin-m365"))))
	require.Contains(t, text("#signin-m365 .state"), "signed out")

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#signin-m365 .signin-button")),
		chromedp.WaitVisible(chromedp.CSS("#signin-m365 .user-code"))))
	code := strings.TrimSpace(text("#signin-m365 .user-code"))
	require.Regexp(t, `^[A-Z0-9]{9}$`, code)
	require.Contains(t, text("#signin-m365 a.verify"), "/devicelogin")
	require.Contains(t, text("#signin-done"), "Sign-in started")

	// The service account signs in at the verification page: the page, reloading itself,
	// shows the outcome and who is signed in.
	require.NoError(t, d.graph.ApproveCode(code, svcAccount))
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#signin-m365 .user"))))
	require.Equal(t, svcAccount, text("#signin-m365 .user"))
	require.Contains(t, text("#signin-m365 .outcome"), "Signed in as "+svcAccount)
	require.Contains(t, text("#signin-m365 .scopes"), "Calendars.Read.Shared")
	d.waitRooms("rooms synced through the signed-in account", roomOK)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/rooms"), chromedp.WaitVisible(chromedp.CSS("table.rooms"))))
	rooms := text("table.rooms")
	for _, m := range d.rooms() {
		require.Contains(t, rooms, m)
	}
	require.NotContains(t, rooms, "signed out")

	// Sign out: the token is gone and the rooms say so.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/signin"), chromedp.WaitVisible(chromedp.CSS("#signin-m365 .signout-button")),
		chromedp.Click(chromedp.CSS("#signin-m365 .signout-button")), chromedp.WaitVisible(chromedp.CSS("#signin-done"))))
	require.Contains(t, text("#signin-done"), "Signed out")
	require.Contains(t, text("#signin-m365 .state"), "signed out")
	d.waitRooms("rooms signed out", roomSignedOut)
	_, err := os.Stat(d.cfg.StateDir + "/tokens/graph-m365.sealed")
	require.True(t, os.IsNotExist(err), "the sealed token is deleted")
	st, _, err := d.agent.store.Room(context.Background(), d.rooms()[0])
	require.NoError(t, err)
	require.Equal(t, store.RoomAuthFailed, st.Status)
}
