package poly

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/polysim"
)

// flood opens n idle TCP connections from ip to addr; nothing is sent on them, not even a TLS
// hello. They are closed when the test ends.
func flood(t *testing.T, ip, addr string, n int) []net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range n {
		c, err := d.Dial("tcp", addr)
		require.NoError(t, err, "connect from %s (binding a 127/8 source address must work here)", ip)
		conns = append(conns, c)
	}
	return conns
}

// watchClosed signals once for each connection the server closes.
func watchClosed(conns []net.Conn) <-chan struct{} {
	ch := make(chan struct{}, len(conns))
	for _, c := range conns {
		go func() {
			var b [1]byte
			if _, err := c.Read(b[:]); err != nil && !errors.Is(err, net.ErrClosed) {
				ch <- struct{}{} // EOF or reset: the server closed it (ErrClosed is our cleanup)
			}
		}()
	}
	return ch
}

// waitClosed waits until at least want connections have been closed by the server; within
// bounds the wait for a test that would otherwise hang.
func waitClosed(t *testing.T, ch <-chan struct{}, want int, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for got := 0; got < want; got++ {
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("the server closed %d connections, want at least %d", got, want)
		}
	}
}

// openConns is how many connections the running service holds from ip, and in all.
func (s *Service) openConns(ip string) (int, int) {
	s.addrMu.Lock()
	l := s.conns
	s.addrMu.Unlock()
	return l.count(netip.MustParseAddr(ip))
}

// holdingFlood opens n connections from ip to the service as the outside probe did: each
// completes its TLS handshake, makes one request without a credential and then holds the
// connection open, doing nothing. (Against b129881 that held 1,024 connections, the whole
// listener, for the 2-minute idle timeout.) The channel signals once for each connection the
// server closes.
func holdingFlood(t *testing.T, f *fixture, ip, addr string, n int) <-chan struct{} {
	t.Helper()
	conns := flood(t, ip, addr, n)
	closed := make(chan struct{}, n)
	for _, c := range conns {
		go func() {
			tc := tls.Client(c, &tls.Config{RootCAs: f.ca.Pool(), ServerName: "127.0.0.1"})
			err := tc.Handshake()
			if err == nil {
				_, err = io.WriteString(tc, "POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: ews.test\r\nContent-Length: 0\r\n\r\n")
			}
			br := bufio.NewReader(tc)
			if err == nil {
				var resp *http.Response
				if resp, err = http.ReadResponse(br, nil); err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
				}
			}
			if err == nil {
				_, err = br.ReadByte() // hold until the server closes the connection
			}
			if !errors.Is(err, net.ErrClosed) {
				closed <- struct{}{} // refused, reset or closed by the server (ErrClosed is our cleanup)
			}
		}()
	}
	return closed
}

// TestFloodFromOneAddressDoesNotStarveEndpoints: one address opening 1,100 connections (more
// than the service's whole capacity) and holding them does not stop a real endpoint's poll
// from being served, and every one of the flood's connections is closed.
func TestFloodFromOneAddressDoesNotStarveEndpoints(t *testing.T) {
	f := newFixture(t)
	svc, _ := runService(t, f.opts)
	const n = 1100
	closed := holdingFlood(t, f, "127.0.0.2", svc.Addr(), n)

	// The flood's connections are all established (queued first) when the endpoint connects.
	ep := f.fleet(svc, nil).Endpoint("poly-a")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	require.NoError(t, ep.PollNow(ctx), "a real endpoint is served while one address floods")
	assert.Len(t, ep.Meetings(), 4)

	waitClosed(t, closed, n, 20*time.Second)
	from, _ := svc.openConns("127.0.0.2")
	assert.Zero(t, from)
}

// TestConnectionsPerAddressAreCapped: connections from one address beyond its share are
// closed as they arrive, not when they time out; its share stays open.
func TestConnectionsPerAddressAreCapped(t *testing.T) {
	f := newFixture(t)
	svc, _ := runService(t, f.opts, func(s *Service) { s.limits.firstRequest = time.Hour })
	const n = 100
	closed := watchClosed(flood(t, "127.0.0.2", svc.Addr(), n))
	// b129881 closed them only when their TLS handshake timed out, after 10 s.
	waitClosed(t, closed, n-defaultConnLimits.perSource, 5*time.Second)
	from, _ := svc.openConns("127.0.0.2")
	assert.Equal(t, defaultConnLimits.perSource, from)
}

// TestEndpointsSharingAnAddressAreServed: more endpoints behind one address (a NAT, or
// polysim's fleet on 127.0.0.1) than its share, each keeping its idle connection, are all
// served, poll after poll: a newcomer's connection displaces an idle one of the same address.
func TestEndpointsSharingAnAddressAreServed(t *testing.T) {
	f := newFixture(t)
	svc, _ := runService(t, f.opts, func(s *Service) { s.limits.perSource = 8 })
	url := "https://" + svc.Addr() + "/EWS/Exchange.asmx"
	var eps []polysim.EndpointOptions
	for i := range 20 {
		eps = append(eps, polysim.EndpointOptions{Name: fmt.Sprintf("poly-a%d", i), Room: roomA, EWSURL: url, Username: userA, Password: passA, RootCAs: f.ca.Pool()})
	}
	fl, err := polysim.Start(t.Context(), polysim.Options{Endpoints: eps, Now: f.clk.Now, Logger: testLogger(t)})
	require.NoError(t, err)
	defer fl.Close()
	for round := range 2 {
		for _, name := range fl.Names() {
			ep := fl.Endpoint(name)
			require.NoError(t, ep.PollNow(t.Context()), "round %d, %s", round, name)
			assert.Len(t, ep.Meetings(), 4)
		}
	}
	from, _ := svc.openConns("127.0.0.1")
	assert.LessOrEqual(t, from, 8)
}

// TestFloodFromManyAddressesDoesNotStarveEndpoints: when addresses that each stay within
// their share fill the service, a real endpoint's connection makes room by closing an idle
// connection of the biggest holder.
func TestFloodFromManyAddressesDoesNotStarveEndpoints(t *testing.T) {
	f := newFixture(t)
	svc, _ := runService(t, f.opts, func(s *Service) { s.limits.perSource, s.limits.total = 8, 40 })
	var conns []net.Conn
	for i := range 10 {
		conns = append(conns, flood(t, fmt.Sprintf("127.0.0.%d", 10+i), svc.Addr(), 8)...)
	}
	closed := watchClosed(conns)

	ep := f.fleet(svc, nil).Endpoint("poly-a")
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	require.NoError(t, ep.PollNow(ctx), "a real endpoint is served while the service is full")
	assert.Len(t, ep.Meetings(), 4)

	waitClosed(t, closed, 80-40+1, 15*time.Second) // the overflow, and one more for the endpoint
	_, total := svc.openConns("127.0.0.1")
	assert.LessOrEqual(t, total, 40)
}

// rawRequest sends one HTTP/1.1 request on a TLS connection and reads the answer.
func rawRequest(t *testing.T, c *tls.Conn, br *bufio.Reader, method, path, auth string) *http.Response {
	t.Helper()
	req := method + " " + path + " HTTP/1.1\r\nHost: ews.test\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: 0\r\n"
	if auth != "" {
		req += "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(auth)) + "\r\n"
	}
	_, err := io.WriteString(c, req+"\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

// requireClosed checks that the server has closed the connection (bounded wait).
func requireClosed(t *testing.T, c net.Conn, r io.Reader, what string) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	var b [1]byte
	_, err := r.Read(b[:])
	require.ErrorIs(t, err, io.EOF, "%s: the server keeps the connection open", what)
}

// TestUnauthenticatedConnectionsDoNotStay: a connection that never makes a request is closed
// after a short time; a 401, a 429 or a 404 ends its connection; an authenticated connection
// stays open between polls.
func TestUnauthenticatedConnectionsDoNotStay(t *testing.T) {
	f := newFixture(t)
	const first = 300 * time.Millisecond
	svc, _ := runService(t, f.opts, func(s *Service) { s.limits.firstRequest = first })
	dialTLS := func() (*tls.Conn, *bufio.Reader) {
		c, err := tls.Dial("tcp", svc.Addr(), &tls.Config{RootCAs: f.ca.Pool(), ServerName: "127.0.0.1"})
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}

	silent, err := net.Dial("tcp", svc.Addr())
	require.NoError(t, err)
	defer silent.Close()
	requireClosed(t, silent, silent, "a connection that sends nothing")

	for _, tc := range []struct {
		name, path, auth string
		status           int
	}{
		{"no credential", "/EWS/Exchange.asmx", "", http.StatusUnauthorized},
		{"wrong password", "/EWS/Exchange.asmx", userA + ":wrong", http.StatusUnauthorized},
		{"unknown path", "/owa/", userA + ":" + passA, http.StatusNotFound},
	} {
		c, br := dialTLS()
		resp := rawRequest(t, c, br, http.MethodPost, tc.path, tc.auth)
		assert.Equal(t, tc.status, resp.StatusCode, tc.name)
		assert.True(t, resp.Close, "%s: the answer says Connection: close", tc.name)
		requireClosed(t, c, br, tc.name)
	}

	// A source refused for too many failed logins (429) is not kept either.
	for range freeFailures + 1 {
		c, br := dialTLS()
		rawRequest(t, c, br, http.MethodPost, "/EWS/Exchange.asmx", userA+":wrong")
	}
	c, br := dialTLS()
	resp := rawRequest(t, c, br, http.MethodPost, "/EWS/Exchange.asmx", userB+":"+passB)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	requireClosed(t, c, br, "429")

	// An authenticated connection outlives the first-request time: it is idle between polls
	// for the server's IdleTimeout. (From another address: 127.0.0.1 is being slowed down.)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}
	good, err := tls.DialWithDialer(d, "tcp", svc.Addr(), &tls.Config{RootCAs: f.ca.Pool(), ServerName: "127.0.0.1"})
	require.NoError(t, err)
	defer good.Close()
	gbr := bufio.NewReader(good)
	resp = rawRequest(t, good, gbr, http.MethodGet, "/EWS/Exchange.asmx", userA+":"+passA)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.False(t, resp.Close)
	later, err := net.Dial("tcp", svc.Addr()) // opened after good went idle: it expires later
	require.NoError(t, err)
	defer later.Close()
	requireClosed(t, later, later, "a later silent connection")
	resp = rawRequest(t, good, gbr, http.MethodGet, "/EWS/Exchange.asmx", userA+":"+passA)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the authenticated connection is still served")
}

// TestTLSOffersOnlyAEADSuites: a TLS 1.2 client limited to CBC suites fails the handshake (and
// the log says why); TLS 1.2 with AES-GCM or ChaCha20 and TLS 1.3 succeed. Both with an ECDSA
// certificate (a CA's, as in the fixture) and the service's own self-signed RSA one.
func TestTLSOffersOnlyAEADSuites(t *testing.T) {
	for _, kind := range []string{"ECDSA", "RSA"} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			var logs bytes.Buffer
			f.opts.Logger = newLockedLogger(&logs)
			cfg := &tls.Config{RootCAs: f.ca.Pool(), ServerName: "127.0.0.1"}
			if kind == "RSA" {
				f.opts.CertFile, f.opts.KeyFile = "", "" // self-signed, made in StateDir
			}
			svc, _ := runService(t, f.opts)
			if kind == "RSA" {
				// Trust exactly the service's self-signed certificate.
				cfg.InsecureSkipVerify = true
				cfg.VerifyConnection = func(cs tls.ConnectionState) error {
					if got := fingerprintOf(&tls.Certificate{Certificate: [][]byte{cs.PeerCertificates[0].Raw}}); got != svc.Fingerprint() {
						return fmt.Errorf("certificate %s is not the service's", got)
					}
					return nil
				}
			}
			dial := func(maxVersion uint16, suites ...uint16) (*tls.ConnectionState, error) {
				c := cfg.Clone()
				c.MinVersion, c.MaxVersion, c.CipherSuites = tls.VersionTLS12, maxVersion, suites
				conn, err := tls.Dial("tcp", svc.Addr(), c)
				if err != nil {
					return nil, err
				}
				defer conn.Close()
				st := conn.ConnectionState()
				return &st, nil
			}
			cbc := []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
				tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
				tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
				tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA}
			_, err := dial(tls.VersionTLS12, cbc...)
			require.Error(t, err, "a client offering only CBC suites")
			aead := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}
			if kind == "RSA" {
				aead = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}
			}
			for _, suite := range aead {
				st, err := dial(tls.VersionTLS12, suite)
				require.NoError(t, err, tls.CipherSuiteName(suite))
				assert.Equal(t, suite, st.CipherSuite)
			}
			st, err := dial(tls.VersionTLS13)
			require.NoError(t, err)
			assert.Equal(t, uint16(tls.VersionTLS13), st.Version)
			assert.Contains(t, logText(&logs), "offers only TLS versions or cipher suites the calendar service refuses")
		})
	}
}
