package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/metrics"
)

// metricsServer is the fixture's site with /metrics served from a fixed snapshot.
func metricsServer(t *testing.T, o fixtureOpts, snap metrics.Snapshot) (*fixture, *Server, *httptest.Server) {
	t.Helper()
	f := newFixture(t, o)
	read := func(context.Context) (metrics.Snapshot, error) { return snap, nil }
	srv, err := New(Options{
		Listen: f.cfg.Status.Listen, Username: f.cfg.Status.Username, Password: f.cfg.Status.Password,
		Store: f.store, Health: f.health, Agent: f.agent, Clock: f.clock, Location: oslo,
		Metrics: metrics.Handler(metrics.NewRegistry(read, nil), nil),
	})
	require.NoError(t, err)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return f, srv, hs
}

func scrape(t *testing.T, hs *httptest.Server, host string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, hs.URL+"/metrics", nil)
	require.NoError(t, err)
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := hs.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b), resp.Header
}

var siteSnapshot = metrics.Snapshot{Site: "oslo-hq", Version: "1.2.3-test",
	Sources: []metrics.Source{{Type: "graph", Integration: "m365", Rooms: map[string]int{"ok": 2, "policy_denied": 1}}}}

// With status.username and status.password, /metrics takes HTTP Basic authentication (what a
// Prometheus scrape config's basic_auth sends) or, from this machine, the action token; nothing
// else.
func TestMetricsNeedTheAPIsCredentials(t *testing.T) {
	_, srv, hs := metricsServer(t, fixtureOpts{credentials: true}, siteSnapshot)
	code, _, h := scrape(t, hs, "")
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.Contains(t, h.Get("WWW-Authenticate"), "Basic")
	code, _, _ = scrape(t, hs, "", "Authorization", "Basic "+basic("tech", "wrong"))
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _, _ = scrape(t, hs, "", "Authorization", "Bearer status-page-password-999")
	assert.Equal(t, http.StatusUnauthorized, code, "a bearer token is not a way in: Prometheus uses basic_auth")

	code, body, h := scrape(t, hs, "", "Authorization", "Basic "+basic("tech", "status-page-password-999"))
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, h.Get("Content-Type"), "text/plain")
	assert.Contains(t, body, `otj_source_rooms{integration="m365",status="policy_denied",type="graph"} 1`)
	assert.Contains(t, body, "go_goroutines ")
	assert.Contains(t, body, "process_start_time_seconds ")

	code, body, _ = scrape(t, hs, "", TokenHeader, srv.Token())
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `otj_site_info{site="oslo-hq"} 1`)
}

// Without credentials (loopback only), /metrics answers only to loopback host names, like
// every page: a DNS name rebound to 127.0.0.1 cannot read it.
func TestMetricsOnLoopbackWithoutCredentials(t *testing.T) {
	_, _, hs := metricsServer(t, fixtureOpts{}, siteSnapshot)
	code, _, _ := scrape(t, hs, "attacker.example:8787")
	assert.Equal(t, http.StatusMisdirectedRequest, code)
	code, body, _ := scrape(t, hs, "127.0.0.1:8787")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "otj_scrape_error 0")
}

// The exposition goes through the secret scrubber like every answer, and so is never sent
// compressed (a scrubber cannot read gzip).
func TestMetricsAreScrubbedAndUncompressed(t *testing.T) {
	snap := siteSnapshot
	snap.Site = "graph-client-secret-value-123" // as if a secret had slipped into a label
	_, _, hs := metricsServer(t, fixtureOpts{}, snap)
	code, body, h := scrape(t, hs, "", "Accept-Encoding", "gzip")
	require.Equal(t, http.StatusOK, code)
	assert.Empty(t, h.Get("Content-Encoding"))
	assert.NotContains(t, body, "graph-client-secret-value-123")
	assert.Contains(t, body, `otj_site_info{site="[redacted]"} 1`)
}

// A server built without a Metrics handler has no /metrics.
func TestNoMetricsWithoutAHandler(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	code, _ := f.get("/metrics")
	assert.Equal(t, http.StatusNotFound, code)
}
