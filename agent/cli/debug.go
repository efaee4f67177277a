package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"
)

// pprofEnv names the environment variable that turns on Go's profiling endpoints
// (/debug/pprof/) for measuring the agent's memory and CPU. It is off unless set, and only a
// loopback address is accepted: profiles show internals (no secrets, but stack traces and
// strings in memory) and the handlers are unauthenticated.
const pprofEnv = "OTJ_EDGE_PPROF"

// startPprof serves the profiling endpoints on addr (a loopback host:port) until ctx ends. It
// returns a function that waits for the server to stop.
func startPprof(ctx context.Context, addr string, log *slog.Logger) (func(), error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: want a loopback host:port such as 127.0.0.1:6060: %w", pprofEnv, addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%s=%q: only a loopback address (127.0.0.1, ::1, localhost) is allowed", pprofEnv, addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pprofEnv, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: loopbackHostOnly(mux), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("profiling endpoint stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Warn("profiling endpoints on (debug setting "+pprofEnv+")", "listen", l.Addr().String())
	return func() { <-done }, nil
}

// loopbackHostOnly refuses requests whose Host header is not a loopback name or address. A
// loopback listener alone does not keep web pages out: a page from evil.example whose name
// is made to resolve to 127.0.0.1 (DNS rebinding) reaches it from the operator's browser,
// with its own name in Host. 421 Misdirected Request says this server does not answer for
// that name.
func loopbackHostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, "otj-edge profiling answers only to a loopback host name (127.0.0.1, [::1] or localhost)", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header (host or host:port) names this machine's
// loopback: localhost or a loopback IP address.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
