package web

import (
	"encoding/json"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func getRuntime(t *testing.T, f *fixture) Runtime {
	t.Helper()
	code, body := f.get("/api/runtime")
	require.Equal(t, http.StatusOK, code, body)
	var rt Runtime
	require.NoError(t, json.Unmarshal([]byte(body), &rt))
	return rt
}

// TestRuntimeReportsTheProcess checks /api/runtime: goroutines, heap, uptime from the agent's
// start, and on Linux open descriptors and RSS that follow what the process really holds.
func TestRuntimeReportsTheProcess(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	rt := getRuntime(t, f)
	assert.Positive(t, rt.Goroutines)
	assert.Positive(t, rt.HeapBytes)
	assert.GreaterOrEqual(t, rt.GoBytes, rt.HeapBytes)
	assert.Equal(t, (26 * time.Hour).Seconds(), rt.UptimeSeconds, "uptime counts from the agent's start")
	assert.Equal(t, runtime.Version(), rt.GoVersion)
	if runtime.GOOS != "linux" {
		assert.Nil(t, rt.OpenFiles, "no /proc: the figure is absent, not zero")
		return
	}
	require.NotNil(t, rt.OpenFiles)
	require.NotNil(t, rt.RSSBytes)
	assert.Greater(t, *rt.RSSBytes, int64(1<<20))

	// Ten more open files show up as ten more descriptors (the HTTP connection is reused
	// between the two calls, so nothing else changes).
	var files []*os.File
	for range 10 {
		fh, err := os.Open(os.DevNull)
		require.NoError(t, err)
		files = append(files, fh)
	}
	after := getRuntime(t, f)
	for _, fh := range files {
		fh.Close()
	}
	require.NotNil(t, after.OpenFiles)
	assert.Equal(t, *rt.OpenFiles+10, *after.OpenFiles)

	// More goroutines show up too.
	stop := make(chan struct{})
	for range 20 {
		go func() { <-stop }()
	}
	n := runtime.NumGoroutine()
	more := getRuntime(t, f)
	close(stop)
	// The figure is the process's own count: it holds the 20 blocked goroutines and is close to
	// what the runtime says at the same moment (HTTP goroutines come and go in between). Not
	// rt.Goroutines+20: goroutines of the fixture's start-up counted then may have ended since
	// (30 < 11+20 once under load).
	assert.Greater(t, more.Goroutines, 20)
	assert.InDelta(t, n, more.Goroutines, 8)
}
