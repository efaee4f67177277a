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

// browser is headless Chromium on the fixture's pages, served on loopback. Every response it
// gets is recorded, so a failed asset load cannot hide, and so is its console.
type browser struct {
	t       *testing.T
	ctx     context.Context
	url     string
	console *consoleLog
	mu      sync.Mutex
	failed  []string
}

func newBrowser(t *testing.T, f *fixture) *browser {
	t.Helper()
	exe := chromium(t)
	b := &browser{t: t, console: &consoleLog{seen: make(chan string, 64)}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		f.server.Handler().ServeHTTP(rec, r)
		if rec.code >= 400 {
			b.mu.Lock()
			b.failed = append(b.failed, fmt.Sprintf("%s %s: %d", r.Method, r.URL.Path, rec.code))
			b.mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	b.url = srv.URL

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
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Listen(ctx, b.console.listen))
	// Bound the whole browser session; the first action starts the browser.
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	b.ctx = ctx
	return b
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx, steps...))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(b.t, err, sel)
	return s
}

func eval[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	require.NoError(b.t, err, js)
	return v
}

// finish checks that no page logged an error and no request failed.
func (b *browser) finish() {
	b.t.Helper()
	// A marker written last: console events arrive in order, so once it is seen every
	// message the pages wrote before it has been collected.
	_, err := chromedp.Run(b.ctx, chromedp.Evaluate[any](`console.log("otj-test-end")`))
	require.NoError(b.t, err)
	for marker := false; !marker; {
		select {
		case s := <-b.console.seen:
			marker = s == "otj-test-end"
		case <-b.ctx.Done():
			b.t.Fatal("the console marker never arrived")
		}
	}
	assert.Empty(b.t, b.console.problems(), "console errors")
	b.mu.Lock()
	assert.Empty(b.t, b.failed, "failed requests")
	b.mu.Unlock()
}

// TestBrowserShowsRoomsAndRunsTheRulesBench loads the status page in headless Chromium:
// every page loads without a console error, the rooms page shows each room and its next
// meeting, the page fits a phone's width, and the rules bench returns a result.
func TestBrowserShowsRoomsAndRunsTheRulesBench(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	b := newBrowser(t, f)

	for _, path := range []string{"/", "/endpoints", "/events", "/rooms/room-a@example.com"} {
		b.do(chromedp.Navigate(b.url+path), chromedp.WaitVisible(chromedp.CSS("#data-age")))
	}
	assert.Contains(t, b.text("#data-age"), "Calendar data 2 minutes old")

	// The rooms and their next meetings, on a phone-sized screen.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(b.url+"/rooms"),
		chromedp.WaitVisible(chromedp.CSS("table.rooms")))
	rooms := b.text("table.rooms")
	for _, want := range []string{
		"room-a@example.com", "now 09:30–10:30 Project Falcon", "next 11:00–12:00 Customer call",
		"room-b@example.com", "next 13:00–14:00 Kari Nordmann", "add_organizer_to_subject",
		"room-c@example.com", "policy_denied", "never synced",
	} {
		assert.Contains(t, rooms, want)
	}
	assert.True(t, eval[bool](b, `document.documentElement.scrollWidth <= window.innerWidth`),
		"the page is no wider than the phone; wide tables scroll inside their box")

	// The rules bench: paste an invite, pick a profile, get the result.
	b.do(chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(b.url+"/rules"),
		chromedp.WaitVisible(chromedp.CSS("#invite")),
		chromedp.SetValue(chromedp.CSS(`select[name="profile"]`), "strict"),
		chromedp.SetValue(chromedp.CSS(`input[name="subject"]`), "Weekly sync"),
		chromedp.SendKeys(chromedp.CSS("#invite"), "Join the meeting: sip:8000123@vmr.example.com"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#rules-result")))
	result := b.text("#rules-result")
	assert.Contains(t, result, "profile strict")
	assert.Contains(t, result, "8000123@vmr.example.com")
	assert.Contains(t, result, "fallback")
	assert.Contains(t, result, "Weekly sync")
	b.finish()
}

// TestBrowserShowsTheGroupedOutageAndABrokenCodec: on the outage site, the overview shows the
// 19 rooms with the same Graph 503 as one row that opens to list them, above the one codec's
// problem; the rooms list shows the room whose codec holds another system's bookings in the
// warning colour, not green, with the codec's state beside the calendar's.
func TestBrowserShowsTheGroupedOutageAndABrokenCodec(t *testing.T) {
	f := newFixture(t, fixtureOpts{outage: true})
	b := newBrowser(t, f)
	b.do(chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(b.url+"/"),
		chromedp.WaitVisible(chromedp.CSS("#attention")))
	assert.Equal(t, "Needs attention (3)", b.text("#attention h2"))
	rows := eval[[]string](b, `Array.from(document.querySelectorAll("#attention details.problem > summary")).map(s => s.innerText.trim())`)
	require.Len(t, rows, 3, "one row per cause: %q", rows)
	assert.Equal(t, "warning 19 rooms: Graph 503 since 02:03", rows[0])
	assert.Equal(t, "error codec-20 (room-20@example.com): session limit (HTTP 503) since 09:12", rows[1])
	assert.Equal(t, "warning codec-21 (room-21@example.com): another system pushes bookings", rows[2])

	// Closed, the row hides its 19 rooms; opened, it lists them and says what to do.
	first := "#attention details.problem:first-of-type"
	assert.False(t, eval[bool](b, `document.querySelector("`+first+` ul.members").checkVisibility()`))
	b.do(chromedp.Click(chromedp.CSS(first+" > summary")), chromedp.WaitVisible(chromedp.CSS(first+" ul.members")))
	assert.Equal(t, 19, eval[int](b, `document.querySelectorAll("`+first+` ul.members li").length`))
	assert.Contains(t, b.text(first+" .advice"), "Microsoft Graph answers with a server error")
	assert.Contains(t, b.text(first+" ul.members"), "room-19@example.com")

	// The rooms list: room 21 syncs, but its codec is degraded, so the room is not green.
	b.do(chromedp.Navigate(b.url+"/rooms"), chromedp.WaitVisible(chromedp.CSS("table.rooms")))
	row := `tr[id="room-room-21@example.com"]`
	text := b.text(row)
	for _, want := range []string{"warning", "room-21@example.com", "degraded", "codec-21", "another system pushes bookings",
		"next Wed 11 Mar 08:30–09:30 Budget review", "no Join button: no rule matched and no sip:/h323: address"} {
		assert.Contains(t, text, want)
	}
	colour := func(sel string) string {
		return eval[string](b, `getComputedStyle(document.querySelector('`+sel+`')).backgroundColor`)
	}
	room21 := colour(row + ` td[data-label="Room"] .badge`)
	ok := colour(`tr[id="room-room-21@example.com"] td[data-label="Calendar"] .badge`) // its calendar: ok, green
	warn := colour(`tr[id="room-room-21@example.com"] td[data-label="Endpoints"] .badge`)
	assert.NotEqual(t, ok, room21, "the room is not shown green")
	assert.Equal(t, warn, room21, "the room shows its codec's warning")
	assert.Equal(t, "error", b.text(`tr[id="room-room-20@example.com"] td[data-label="Room"] .badge`), "room 20's codec refuses connections")
	b.finish()
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}
