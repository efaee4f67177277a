package cli

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

// TestPprofRefusesForeignHostNames: a page whose name resolves to 127.0.0.1 (DNS rebinding)
// reaches a loopback listener from the operator's browser, with its own name in Host.
func TestPprofRefusesForeignHostNames(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	require.NoError(t, l.Close())
	ctx, cancel := context.WithCancel(t.Context())
	wait, err := startPprof(ctx, addr, log)
	require.NoError(t, err)
	defer func() { cancel(); wait() }()

	get := func(host string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/debug/pprof/cmdline", nil)
		require.NoError(t, err)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, host := range []string{"evil.example:" + port, "evil.example", "127.0.0.1.nip.io:" + port, "localhost.evil.example:" + port, "192.0.2.1:" + port, "[2001:db8::1]:" + port} {
		code, body := get(host)
		assert.Equal(t, http.StatusMisdirectedRequest, code, host)
		assert.NotContains(t, body, "debug", host)
	}
	for _, host := range []string{addr, "localhost:" + port, "LOCALHOST", "[::1]:" + port, "127.0.0.2:" + port} {
		code, _ := get(host)
		assert.Equal(t, http.StatusOK, code, host)
	}
}
