package agent

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPprofServesOnLoopbackOnly(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:6060", ":6060", "example.com:6060", "6060"} {
		_, err := startPprof(t.Context(), addr, log)
		require.Error(t, err, addr)
		assert.Contains(t, err.Error(), pprofEnv, "the error names the setting")
	}

	// A free loopback port: the profiles are served there until the context ends.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	ctx, cancel := context.WithCancel(t.Context())
	wait, err := startPprof(ctx, addr, log)
	require.NoError(t, err)
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "goroutine profile:")
	cancel()
	wait()
	_, err = http.Get("http://" + addr + "/debug/pprof/")
	assert.Error(t, err, "stopped with its context")
}
