package cli

// A copy of package agent's test config helpers (test files cannot be shared across packages).

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Secrets of the test configs below (tests check that none of them is ever printed).
const (
	testGraphSecret = "graph-secret-value-123"
	testCodecSecret = "codec-secret-value-456"
)

// testSiteHead is the start of a test config up to "profiles:": site test, state in ./state,
// the status page listening on listen, one Graph integration m365 whose token endpoint is
// tokenURL (the real Entra one when empty) and caLine (an indented "ca_file: …" or "").
func testSiteHead(listen, tokenURL, caLine string) string {
	if tokenURL == "" {
		tokenURL = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
	}
	return `site: test
state_dir: state
status:
  listen: "` + listen + `"
integrations:
  - name: m365
    type: graph
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: ` + testGraphSecret + `
    token_url: ` + tokenURL + caLine + `
profiles:
`
}

// testCodec1 is an endpoints list with one Cisco codec (codec-1 in room-1, profile default) that
// nobody answers for.
const testCodec1 = `endpoints:
  - name: codec-1
    type: cisco
    room: room-1@example.com
    profile: default
    address: 127.0.0.1:1
    username: admin
    password: ` + testCodecSecret + `
`

// writeTestConfig writes a config file (mode 0600) into dir, a new temp dir when empty.
func writeTestConfig(t *testing.T, dir, yaml string) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	return path
}

// syncBuffer is a log sink the agent's goroutines and the test can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
