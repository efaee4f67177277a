package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromium finds a Chromium to drive. Without one the test is skipped locally, and fails in
// CI (CI=true), where .ci/run installs Debian's chromium.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; CI must run the browser test (apt-get install chromium)")
	}
	t.Skip("chromium is not installed; install it (apt-get install chromium) to run the browser test")
	return ""
}

// consoleLog collects what the page reports to its console: console calls, uncaught
// exceptions and the browser's own log (failed loads, CSP violations).
type consoleLog struct {
	mu      sync.Mutex
	entries []string
	seen    chan string
}

func (c *consoleLog) add(kind, text string) {
	c.mu.Lock()
	c.entries = append(c.entries, kind+": "+text)
	c.mu.Unlock()
	select {
	case c.seen <- text:
	default:
	}
}

func (c *consoleLog) listen(ev any) {
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range e.Args {
			parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
		}
		c.add("console."+string(e.Type), strings.Join(parts, " "))
	case *runtime.EventExceptionThrown:
		c.add("exception", e.ExceptionDetails.Text+" "+fmt.Sprint(e.ExceptionDetails.Exception))
	case *log.EventEntryAdded:
		c.add("log."+string(e.Entry.Level), e.Entry.Text+" "+e.Entry.URL)
	}
}

func (c *consoleLog) problems() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.entries {
		if strings.HasPrefix(e, "console.error") || strings.HasPrefix(e, "exception") ||
			strings.HasPrefix(e, "log.error") || strings.HasPrefix(e, "log.warning") {
			out = append(out, e)
		}
	}
	return out
}

// TestBrowserShowsRoomsAndRunsTheRulesBench loads the status page in headless Chromium:
// every page loads without a console error, the rooms page shows each room and its next
// meeting, the page fits a phone's width, and the rules bench returns a result.
func TestBrowserShowsRoomsAndRunsTheRulesBench(t *testing.T) {
	exe := chromium(t)
	f := newFixture(t, fixtureOpts{})

	// Every response the browser gets is recorded, so a failed asset load cannot hide.
	var mu sync.Mutex
	var failed []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		f.server.Handler().ServeHTTP(rec, r)
		if rec.code >= 400 {
			mu.Lock()
			failed = append(failed, fmt.Sprintf("%s %s: %d", r.Method, r.URL.Path, rec.code))
			mu.Unlock()
		}
	}))
	defer srv.Close()

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	console := &consoleLog{seen: make(chan string, 64)}
	require.NoError(t, chromedp.Listen(ctx, console.listen))
	// Bound the whole browser session; the first action starts the browser.
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTimeout()

	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, sel)
		return s
	}

	for _, path := range []string{"/", "/endpoints", "/events", "/rooms/room-a@example.com"} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+path), chromedp.WaitVisible(chromedp.CSS("#data-age"))), path)
	}
	assert.Contains(t, text("#data-age"), "Calendar data 2 minutes old")

	// The rooms and their next meetings, on a phone-sized screen.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(srv.URL+"/rooms"),
		chromedp.WaitVisible(chromedp.CSS("table.rooms"))))
	rooms := text("table.rooms")
	for _, want := range []string{
		"room-a@example.com", "now 09:30–10:30 Project Falcon", "next 11:00–12:00 Customer call",
		"room-b@example.com", "next 13:00–14:00 Kari Nordmann", "add_organizer_to_subject",
		"room-c@example.com", "policy_denied", "never synced",
	} {
		assert.Contains(t, rooms, want)
	}
	fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	require.NoError(t, err)
	assert.True(t, fits, "the page is no wider than the phone; wide tables scroll inside their box")

	// The rules bench: paste an invite, pick a profile, get the result.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(srv.URL+"/rules"),
		chromedp.WaitVisible(chromedp.CSS("#invite")),
		chromedp.SetValue(chromedp.CSS(`select[name="profile"]`), "strict"),
		chromedp.SetValue(chromedp.CSS(`input[name="subject"]`), "Weekly sync"),
		chromedp.SendKeys(chromedp.CSS("#invite"), "Join the meeting: sip:8000123@vmr.example.com"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#rules-result"))))
	result := text("#rules-result")
	assert.Contains(t, result, "profile strict")
	assert.Contains(t, result, "8000123@vmr.example.com")
	assert.Contains(t, result, "fallback")
	assert.Contains(t, result, "Weekly sync")

	// A marker written last: console events arrive in order, so once it is seen every
	// message the pages wrote before it has been collected.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[any](`console.log("otj-test-end")`))
	require.NoError(t, err)
	for marker := false; !marker; {
		select {
		case s := <-console.seen:
			marker = s == "otj-test-end"
		case <-ctx.Done():
			t.Fatal("the console marker never arrived")
		}
	}
	assert.Empty(t, console.problems(), "console errors")
	mu.Lock()
	assert.Empty(t, failed, "failed requests")
	mu.Unlock()
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}
