package config

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func bigYAML() []byte {
	var b strings.Builder
	b.WriteString(`site: test-site
state_dir: state
integrations:
  - name: m365
    type: graph
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: secret-value-1234
    token_url: https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token
profiles:
  - name: default
    start_buffer: 10m
    rules:
      - name: teams
        type: teams
        priority: 10
webex:
  - name: wx
    client_id: abc
    client_secret: wx-secret-123
    refresh_token: wx-refresh-123
endpoints:
`)
	for i := range 1000 {
		fmt.Fprintf(&b, "  - name: codec-%04d\n    type: cisco\n    room: room-%04d@example.com\n    address: 10.1.%d.%d\n    username: admin\n    password: long-password-%04d\n", i, i, i/250, i%250+1, i)
	}
	for i := range 100 {
		fmt.Fprintf(&b, "  - name: poly-%04d\n    type: poly\n    room: room-%04d@example.com\n    calendar_username: poly%04d\n    calendar_password: poly-secret-%04d\n    address: 10.2.0.%d\n    username: admin\n    password: poly-admin-%04d\n", i, i, i, i, i+1, i)
	}
	for i := range 100 {
		fmt.Fprintf(&b, "  - name: webex-%04d\n    type: webex\n    room: room-%04d@example.com\n    device_id: dev-%04d\n", i, 100+i, i)
	}
	return []byte(b.String())
}

// A loaded config is kept for as long as the agent runs: what it holds beyond its values stays
// small. 1,000 Cisco, 100 Poly and 100 Webex endpoints (172 KB of YAML) held 735 KB with a map
// of key lines per mapping, 527 KB with a list whose names are the fields' tags.
func TestLoadedConfigKeepsLittleBeyondItsValues(t *testing.T) {
	data := bigYAML()
	runtime.GC()
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	cfg, err := Parse("/tmp/x/config.yaml", data, Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&b)
	kept := int64(b.HeapAlloc) - int64(a.HeapAlloc)
	t.Logf("config of %d endpoints: %d KB kept (%d KB of YAML, %d KB allocated while loading)", len(cfg.Endpoints), kept>>10, len(data)>>10, (b.TotalAlloc-a.TotalAlloc)>>10)
	require.Len(t, cfg.Endpoints, 1200)
	require.Less(t, kept, int64(620<<10), "the loaded config keeps what only loading needs")
	// The lines errors and warnings name after loading are still there.
	require.Equal(t, 22, cfg.Endpoints[0].Pos.Line(""))
	require.Equal(t, 24, cfg.Endpoints[0].Pos.Line("room"))
	require.True(t, cfg.Endpoints[0].Pos.Has("password"))
	require.False(t, cfg.Endpoints[0].Pos.Has("ca_file"))
	runtime.KeepAlive(cfg)
}
