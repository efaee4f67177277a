package agent

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/store"
)

func TestOfflineClockFindings(t *testing.T) {
	built := time.Date(2026, 8, 1, 9, 0, 0, 0, time.UTC)
	wrote := time.Date(2026, 8, 20, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		now        time.Time
		built      time.Time
		lastWrite  time.Time
		want       []string // substrings, one per line, in order
		wantIsWarn bool
	}{
		{"fine", wrote.Add(time.Hour), built, wrote,
			[]string{"clock ok: 2026-08-20 13:00:00 UTC, not before this build, 2026-08-01 09:00:00 UTC or the store's newest record, 2026-08-20 12:00:00 UTC"}, false},
		{"dead RTC battery: before the build", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), built, time.Time{},
			[]string{"warning: clock: it is 2000-01-01 00:00:00 UTC here, before this otj-edge was even built (2026-08-01 09:00:00 UTC): the clock is wrong"}, true},
		{"went back behind the store", wrote.Add(-3 * time.Hour), built, wrote,
			[]string{"warning: clock: it is 2026-08-20 09:00:00 UTC here, 3h0m0s earlier than the newest time the store recorded (2026-08-20 12:00:00 UTC)"}, true},
		{"both", time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), built, wrote,
			[]string{"before this otj-edge was even built", "earlier than the newest time the store recorded"}, true},
		{"a small step back is within tolerance", wrote.Add(-time.Minute), built, wrote,
			[]string{"clock ok: 2026-08-20 11:59:00 UTC"}, false},
		{"nothing to compare", wrote, time.Time{}, time.Time{},
			[]string{"clock ok: 2026-08-20 12:00:00 UTC (nothing to compare with offline)"}, false},
		{"store only", wrote.Add(time.Minute), time.Time{}, wrote,
			[]string{"clock ok: 2026-08-20 12:01:00 UTC, not before the store's newest record, 2026-08-20 12:00:00 UTC"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := offlineClockFindings(tt.now, tt.built, tt.lastWrite)
			require.Len(t, got, len(tt.want), strings.Join(got, "\n"))
			for i, w := range tt.want {
				assert.Contains(t, got[i], w)
				assert.Equal(t, tt.wantIsWarn, strings.HasPrefix(got[i], "warning: clock: "), got[i])
				if tt.wantIsWarn {
					assert.Contains(t, got[i], "tokens", "a warning says why the clock matters")
				}
			}
		})
	}
}

// withCheckClock makes `otj-edge check` judge c and this build's date as built.
func withCheckClock(t *testing.T, c clock.Clock, built string) {
	t.Helper()
	oldClock, oldBuilt := checkClock, BuildDate
	checkClock, BuildDate = c, built
	t.Cleanup(func() { checkClock, BuildDate = oldClock, oldBuilt })
}

func TestCheckOfflineWarnsWhenTheClockIsBehindTheStore(t *testing.T) {
	path := minimalConfig(t, "")
	cfg, err := loadConfig(path, IO{Env: os.LookupEnv})
	require.NoError(t, err)
	wrote := time.Date(2026, 8, 20, 12, 0, 0, 0, time.UTC)
	st, err := store.Open(context.Background(), cfg.DBPath(), store.Options{Now: func() time.Time { return wrote }})
	require.NoError(t, err)
	require.NoError(t, st.Write(context.Background(), func(tx *store.Tx) error {
		return tx.Emit(store.Event{Kind: "test", Message: "written while the clock was right"})
	}))
	require.NoError(t, st.Close())

	withCheckClock(t, clock.NewFake(wrote.Add(-48*time.Hour)), "2026-08-01T09:00:00Z")
	code, stdout, stderr := runCLI(t, nil, "check", "--offline", "--config", path)
	require.Equal(t, ExitOK, code, "a wrong clock warns; it does not fail the check: %s", stderr)
	assert.Contains(t, stdout, "config ok: ")
	assert.Contains(t, stdout, "warning: clock: it is 2026-08-18 12:00:00 UTC here, 48h0m0s earlier than the newest time the store recorded (2026-08-20 12:00:00 UTC)")

	withCheckClock(t, clock.NewFake(time.Date(1970, 1, 1, 0, 5, 0, 0, time.UTC)), "2026-08-01T09:00:00Z")
	_, stdout, _ = runCLI(t, nil, "check", "--offline", "--config", path)
	assert.Contains(t, stdout, "warning: clock: it is 1970-01-01 00:05:00 UTC here, before this otj-edge was even built (2026-08-01 09:00:00 UTC)")

	withCheckClock(t, clock.NewFake(wrote.Add(time.Hour)), "2026-08-01T09:00:00Z")
	_, stdout, _ = runCLI(t, nil, "check", "--offline", "--config", path)
	assert.Contains(t, stdout, "clock ok: 2026-08-20 13:00:00 UTC, not before this build")
	assert.NotContains(t, stdout, "warning")
}

func TestCheckOfflineReportsAStoreFromANewerVersion(t *testing.T) {
	path := minimalConfig(t, "")
	cfg, err := loadConfig(path, IO{Env: os.LookupEnv})
	require.NoError(t, err)
	st, err := store.Open(context.Background(), cfg.DBPath(), store.Options{})
	require.NoError(t, err)
	require.NoError(t, st.Close())
	setUserVersion(t, cfg.DBPath(), store.SchemaVersion()+1)

	code, stdout, _ := runCLI(t, nil, "check", "--offline", "--config", path)
	assert.Equal(t, ExitOK, code)
	assert.Contains(t, stdout, "warning: store: database written by a newer otj-edge")
	assert.Contains(t, stdout, "install the newer otj-edge again")
}

// tokenEndpoint is a TLS server on loopback that answers like Entra's token endpoint to a
// request without credentials (400), with its Date header set to serverNow. It records whether
// any request carried credentials.
func tokenEndpoint(t *testing.T, serverNow time.Time) (url, caFile string, sawCredentials *atomic.Bool) {
	t.Helper()
	var saw atomic.Bool
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" || r.ContentLength > 0 || r.URL.RawQuery != "" {
			saw.Store(true)
		}
		w.Header().Set("Date", serverNow.UTC().Format(http.TimeFormat))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"AADSTS900144: The request body must contain the following parameter: 'grant_type'."}`))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are on purpose
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	return srv.URL + "/contoso.onmicrosoft.com/oauth2/v2.0/token", caFile, &saw
}

func TestCheckOnlineComparesTheClockWithTheTokenEndpoint(t *testing.T) {
	serverNow := time.Date(2026, 8, 20, 12, 0, 0, 0, time.UTC)
	tokenURL, caFile, sawCredentials := tokenEndpoint(t, serverNow)
	tests := []struct {
		name  string
		clock time.Time
		want  string
	}{
		{"in step", serverNow.Add(10 * time.Second), "clock ok: within 10s of 127.0.0.1:"},
		{"ahead", serverNow.Add(7 * time.Minute), "warning: clock: this box's clock is 7m0s ahead of 127.0.0.1:"},
		{"behind", serverNow.Add(-5*time.Minute + time.Second), "warning: clock: this box's clock is 5m0s behind 127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := clockCheckConfig(t, tokenURL, caFile)
			cfg, err := loadConfig(path, IO{Env: os.LookupEnv})
			require.NoError(t, err)
			var out bytes.Buffer
			checkClockOnline(t.Context(), &out, cfg, clock.NewFake(tt.clock))
			assert.Contains(t, out.String(), tt.want)
			assert.Equal(t, 1, strings.Count(out.String(), "\n"), "one line per token endpoint")
			assert.NotContains(t, out.String(), "graph-secret-value-123")
		})
	}
	assert.False(t, sawCredentials.Load(), "the clock check sends no credentials")
}

func TestCheckOnlineClockSaysWhenItCannotCompare(t *testing.T) {
	tokenURL, _, _ := tokenEndpoint(t, time.Now())
	// Without the test CA the TLS handshake fails: the check says so and carries on.
	path := clockCheckConfig(t, tokenURL, "")
	cfg, err := loadConfig(path, IO{Env: os.LookupEnv})
	require.NoError(t, err)
	var out bytes.Buffer
	checkClockOnline(t.Context(), &out, cfg, clock.Real{})
	assert.Contains(t, out.String(), "warning: clock: not compared with 127.0.0.1:")
	assert.Contains(t, out.String(), "certificate")
}

// graphConfig writes a config whose one integration uses tokenURL (and caFile when set).
func clockCheckConfig(t *testing.T, tokenURL, caFile string) string {
	t.Helper()
	ca := ""
	if caFile != "" {
		ca = "\n    ca_file: " + caFile
	}
	return writeTestConfig(t, "", testSiteHead("off", tokenURL, ca)+"  - name: default\n"+testCodec1)
}

// setUserVersion marks the SQLite file at path as written with schema version v, as a newer
// otj-edge would.
func setUserVersion(t *testing.T, path string, v int) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(fmt.Sprintf("PRAGMA user_version = %d", v))
	require.NoError(t, err)
}
