package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/migrate"
)

// migratingAgent is the fixture's agent with a shadow check.
type migratingAgent struct {
	*fakeAgent
	rep migrate.Report
}

func (m *migratingAgent) Migration(context.Context) (migrate.Report, error) { return m.rep, nil }

var fixtureMigration = migrate.Report{CheckedAt: fixtureNow, Counts: map[string]int{migrate.Identical: 1, migrate.Differs: 1, migrate.NotReadable: 1},
	Rooms: []migrate.Room{
		{Room: "room-a@example.com", Live: "m365", Shadow: "cloud", State: migrate.Differs, Detail: "1 difference between m365 (live) and cloud (shadow)",
			LiveMeetings: 2, ShadowMeetings: 2, Differences: []string{"10:00 'Board' join board@vmr.example.com (live) vs <b>other</b>@vmr.example.com (shadow)"}, ShadowStatus: "ok"},
		{Room: "room-b@example.com", Live: "m365", Shadow: "cloud", State: migrate.Identical, Detail: "1 meeting, the same through m365 and cloud",
			Fix: "to move it: integration: cloud on its endpoints (poly-b), then otj-edge reload", LiveMeetings: 1, ShadowMeetings: 1, ShadowStatus: "ok"},
		{Room: "room-c@example.com", Live: "m365", Shadow: "cloud", State: migrate.NotReadable, Detail: "the shadow integration cloud cannot read the room: policy_denied",
			Fix: "check with Test-ServicePrincipalAuthorization -Identity 22222222 -Resource room-c@example.com", ShadowStatus: "policy_denied"},
	}}

// migrationServer serves the fixture's site with a shadow integration (cloud, rooms: all)
// and the report above.
func migrationServer(t *testing.T) (*fixture, *httptest.Server) {
	f := newFixture(t, fixtureOpts{})
	yaml := strings.Replace(fixtureConfig, "profiles:\n", `  - name: cloud
    type: graph
    client_id: 22222222-2222-3333-4444-555555555555
    client_secret: cloud-client-secret-value-456
    token_url: https://login.microsoftonline.com/contoso/oauth2/v2.0/token
    shadow: {rooms: all}
profiles:
`, 1)
	cfg, err := config.Parse(filepath.Join(f.dir, "config.yaml"), []byte(yaml), config.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	require.NoError(t, err)
	require.NotEmpty(t, cfg.Shadows())
	f.agent.cfg = cfg
	s, err := New(Options{Listen: cfg.Status.Listen, Store: f.store, Health: f.health, Agent: &migratingAgent{f.agent, fixtureMigration},
		Clock: f.clock, Location: oslo})
	require.NoError(t, err)
	f.server = s
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return f, hs
}

func getFrom(t *testing.T, hs *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := hs.Client().Get(hs.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestMigrationPageAndAPI: the page lists each shadowed room's result with its differences
// (escaped) and fixes, the header links to it, and /api/migration is the same report.
func TestMigrationPageAndAPI(t *testing.T) {
	_, hs := migrationServer(t)
	code, body := getFrom(t, hs, "/migration")
	require.Equal(t, http.StatusOK, code, body)
	golden(t, "migration.html", body)
	assert.Contains(t, body, `<a href="/migration" aria-current="page">Migration</a>`)
	assert.Contains(t, body, "&lt;b&gt;other&lt;/b&gt;", "a meeting's words are escaped")
	assert.Contains(t, body, "to move it: integration: cloud on its endpoints (poly-b), then otj-edge reload")

	code, body = getFrom(t, hs, "/")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `<a href="/migration">Migration</a>`, "every page links to it while rooms are shadowed")

	code, body = getFrom(t, hs, "/api/migration")
	require.Equal(t, http.StatusOK, code, body)
	var got migrate.Report
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	assert.Equal(t, fixtureMigration.Counts, got.Counts)
	assert.Equal(t, fixtureMigration.Rooms, got.Rooms)
	assert.NotContains(t, body, "cloud-client-secret-value-456")
}

// TestMigrationWithoutShadow: no shadow, no link; the page and the API say there is nothing to
// compare (and how to start).
func TestMigrationWithoutShadow(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	code, body := f.get("/")
	require.Equal(t, http.StatusOK, code)
	assert.NotContains(t, body, `href="/migration"`)
	code, body = f.get("/migration")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "No integration reads rooms in shadow.")
	code, body = f.get("/api/migration")
	require.Equal(t, http.StatusOK, code)
	var got migrate.Report
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	assert.Empty(t, got.Rooms)
	assert.Equal(t, fixtureNow.UTC().Format(time.RFC3339), got.CheckedAt.Format(time.RFC3339))
}

// TestBrowserShowsTheMigration: from the overview, the Migration link opens the report; on a
// phone-sized screen it shows each room's result and differences without widening the page,
// and nothing fails in the console.
func TestBrowserShowsTheMigration(t *testing.T) {
	f, _ := migrationServer(t)
	b := newBrowser(t, f)
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(b.url+"/"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/migration"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/migration"]`)),
		chromedp.WaitVisible(chromedp.CSS("table.migration")))
	table := b.text("table.migration")
	for _, want := range []string{
		"room-a@example.com", "m365 → cloud", "differs", "10:00 'Board' join board@vmr.example.com (live) vs <b>other</b>@vmr.example.com (shadow)",
		"room-b@example.com", "identical", "integration: cloud on its endpoints (poly-b)",
		"room-c@example.com", "not_readable", "Test-ServicePrincipalAuthorization",
	} {
		assert.Contains(t, table, want)
	}
	assert.Contains(t, b.text("#migration-counts"), "identical 1")
	assert.True(t, eval[bool](b, `document.documentElement.scrollWidth <= window.innerWidth`),
		"the page is no wider than the phone; the table scrolls inside its box")
	b.finish()
}
