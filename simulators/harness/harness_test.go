package harness

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunsTheRealBinaries builds both binaries, starts a small site and the agent, reads the
// agent's status and its /proc figures, and stops both.
func TestRunsTheRealBinaries(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, err := Root()
	require.NoError(t, err)
	bins, err := Build(ctx, root, t.TempDir())
	require.NoError(t, err)
	dir := t.TempDir()
	s, err := StartSim(ctx, bins, dir, "--rooms", "2", "--cisco", "1", "--poly", "1", "--mqtt", "off", "--clean")
	require.NoError(t, err)
	defer s.Stop(10 * time.Second)
	require.Len(t, s.File.Cisco, 1)

	a, err := StartAgent(ctx, bins, s.File.Agent.Config, s.File.Agent.StatusURL, filepath.Join(dir, "agent.log"))
	require.NoError(t, err)
	st, err := a.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, st.Calendar.Rooms)

	u, err := ProcUsage(a.Pid())
	require.NoError(t, err)
	assert.Greater(t, u.RSSBytes, int64(1<<20))
	assert.GreaterOrEqual(t, u.PeakRSSBytes, u.RSSBytes)
	assert.Equal(t, u.RSSBytes, u.AnonRSSBytes+u.FileRSSBytes, "RSS splits into anonymous and file pages")
	assert.Greater(t, u.FileRSSBytes, int64(1<<20), "the program file's pages are resident")

	require.NoError(t, a.Stop(15*time.Second), "the agent stops cleanly on SIGINT")
	log, err := os.ReadFile(a.Log)
	require.NoError(t, err)
	assert.Contains(t, string(log), "otj-edge stopping")
}

// TestParseStatusSplitsRSS reads the memory lines of a /proc/<pid>/status (Linux 6.x).
func TestParseStatusSplitsRSS(t *testing.T) {
	status := "Name:\totj-edge\nVmPeak:\t 1912948 kB\nVmHWM:\t  117708 kB\nVmRSS:\t   98884 kB\n" +
		"RssAnon:\t   72640 kB\nRssFile:\t   26212 kB\nRssShmem:\t      32 kB\nThreads:\t9\n"
	u := parseStatus([]byte(status))
	assert.Equal(t, Usage{RSSBytes: 98884 << 10, PeakRSSBytes: 117708 << 10, AnonRSSBytes: 72640 << 10, FileRSSBytes: (26212 + 32) << 10}, u)
	assert.Equal(t, Usage{}, parseStatus([]byte("Name:\tx\nVmRSS:\n")), "a line without a number reads as nothing")
}

// TestStatusReadsTheAgentsDocument decodes the /api/status the agent's own golden file pins:
// the measurements read the keys the agent writes (a renamed key would read as zero).
func TestStatusReadsTheAgentsDocument(t *testing.T) {
	root, err := Root()
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(root, "agent", "web", "testdata", "api-status.json"))
	require.NoError(t, err)
	var st Status
	require.NoError(t, json.Unmarshal(b, &st))
	assert.Equal(t, 3, st.Calendar.Rooms)
	require.Len(t, st.Sources, 1)
	assert.Equal(t, "graph", st.Sources[0].Type)
	assert.Equal(t, "m365", st.Sources[0].Name)
	assert.Equal(t, int64(41250), st.Sources[0].RequestsToday)
	assert.Equal(t, int64(99000), st.Sources[0].Projected24h)
}
