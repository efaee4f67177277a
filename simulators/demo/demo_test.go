package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDemoRunsEndToEnd builds both binaries and runs the demo as `make demo` does (a smaller
// site), until every room has synced, every codec and Webex device has bookings and the Poly endpoints show
// meetings; then it stops everything.
func TestDemoRunsEndToEnd(t *testing.T) {
	bin := buildBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	dir := filepath.Join(t.TempDir(), "sim")
	err := run(ctx, &out, filepath.Join(bin, "otj-edge"), filepath.Join(bin, "otj-sim"), dir, "graph", 6, 3, 3, 2, true)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "otj-edge.log"))
		t.Fatalf("demo: %v\n%s\nagent log:\n%s", err, out.String(), log)
	}
	s := out.String()
	assert.Regexp(t, regexp.MustCompile(`status page: http://127\.0\.0\.1:\d+`), s)
	assert.Contains(t, s, "rooms:     6 rooms: 5 ok, 1 policy_denied", "the demo's room outside the access policy shows as such")
	assert.Contains(t, s, "\n           warn: graph/m365: ", "the warning names its component")
	assert.Regexp(t, `cisco:     \d+ bookings on 3 of 3 codecs`, s)
	assert.Regexp(t, `webex:     \d+ bookings on 2 of 2 cloud devices`, s, "the Webex devices got their rooms' bookings through the cloud")
	assert.Regexp(t, `poly:      \d+ meetings shown on [1-3] of 3 endpoints; calendar `, s)
	assert.Regexp(t, `mqtt:      \d+ messages: \d+ events, .*room states for [1-6] rooms?`, s)
	assert.FileExists(t, filepath.Join(dir, "sim.json"))
}

// TestDemoRunsOnGoogle is `OTJ_DEMO_SOURCE=google make demo`: the same site with its rooms
// as Google resource calendars read through googlesim: the rooms sync (the demo's room outside
// the access policy is not shared with the service account's subject: policy_denied, under
// the Google integration's component) and the codecs get their bookings.
func TestDemoRunsOnGoogle(t *testing.T) {
	bin := buildBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	dir := filepath.Join(t.TempDir(), "sim")
	err := run(ctx, &out, filepath.Join(bin, "otj-edge"), filepath.Join(bin, "otj-sim"), dir, "google", 6, 3, 3, 0, true)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "otj-edge.log"))
		t.Fatalf("demo: %v\n%s\nagent log:\n%s", err, out.String(), log)
	}
	s := out.String()
	assert.Contains(t, s, "rooms:     6 rooms: 5 ok, 1 policy_denied", s)
	assert.Contains(t, s, "\n           warn: google/workspace: 1 of 6 rooms not syncing (1 policy_denied)")
	assert.Regexp(t, `cisco:     \d+ bookings on 3 of 3 codecs`, s)
	assert.NotContains(t, s, "graph/m365", "the agent reads Google, not Graph")
}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// buildBinaries builds otj-edge and otj-sim once for the package's tests.
func buildBinaries(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "otj-demo-bin")
		for _, b := range []struct{ out, pkg string }{{"otj-edge", "./cmd/otj-edge"}, {"otj-sim", "./cmd/otj-sim"}} {
			if binErr != nil {
				return
			}
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, b.out), b.pkg)
			cmd.Dir = "../.."
			if out, err := cmd.CombinedOutput(); err != nil {
				binErr = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
			}
		}
	})
	require.NoError(t, binErr)
	return binDir
}
