package ews_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/simulators/ewssim"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/simulators/sourcetest"
	"github.com/otj-edge/otj-edge/sync/ews"
	"github.com/otj-edge/otj-edge/sync/source"
)

// TestSourceTable runs the behaviour table every source passes (simulators/sourcetest)
// against ewssim through the real EWS source, polling (streaming has its own tests: the
// table is about what polling guarantees).
func TestSourceTable(t *testing.T) { sourcetest.Run(t, newEWSRig) }

// ewsRig is the EWS row of the table: ewssim over TLS on loopback, in front of a graphsim
// that holds the calendars, with the default service account (impersonation on every room).
type ewsRig struct {
	gs   *graphsim.Server
	sim  *ewssim.Server
	wire *wire
	// Streaming turns streaming notifications on for the sources built (the cross-source
	// test reads with the default settings).
	streaming bool
}

func newEWSRig(t *testing.T, clk *clock.Fake) sourcetest.Rig {
	t.Helper()
	gs, err := graphsim.New(graphsim.Options{Now: clk.Now})
	require.NoError(t, err)
	require.NoError(t, gs.Start())
	t.Cleanup(gs.Close)
	return newEWSRigOn(t, clk, gs)
}

// newEWSRigOn puts ewssim in front of an existing graphsim.
func newEWSRigOn(t *testing.T, clk *clock.Fake, gs *graphsim.Server) *ewsRig {
	t.Helper()
	sim, err := ewssim.New(ewssim.Options{Calendar: gs, Now: clk.Now})
	require.NoError(t, err)
	require.NoError(t, sim.Start())
	t.Cleanup(sim.Close)
	w := &wire{clk: clk, ca: sim.CA().Pool(), full: map[string]int{}, early: map[string]int{}, until: map[string]time.Time{}}
	return &ewsRig{gs: gs, sim: sim, wire: w}
}

func (r *ewsRig) Sim() *graphsim.Server { return r.gs }

func (r *ewsRig) Integration() string { return "exchange" }

func (r *ewsRig) NewSource(deps source.Deps, rooms []source.Room, maxInFlight int) (source.Source, error) {
	in := ews.Integration{Name: r.Integration(), URL: r.sim.EWSURL(), Username: ewssim.DefaultDomain + `\` + ewssim.DefaultUser,
		Password: secret.New(ewssim.DefaultPassword), Auth: ews.AuthNTLM, Access: ews.AccessImpersonation,
		MaxInFlight: maxInFlight, Streaming: r.streaming}
	return ews.New(ews.Options{Integration: in, Rooms: rooms, Store: deps.Store, Logger: deps.Logger, Clock: deps.Clock,
		Health: deps.Health, HTTPClient: r.httpClient(), Tuning: ews.Tuning{Seed: 1}})
}

// httpClient is a transport like the source's own (HTTP/1.1: NTLM authenticates a
// connection) whose connections the wire watches.
func (r *ewsRig) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DialTLSContext: r.wire.dial,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}, MaxIdleConnsPerHost: 32}}
}

// Throttle answers the room's next requests ErrorServerBusy asking for ten minutes' back-off
// (three times: the room syncs after about half an hour, at Exchange's pace).
func (r *ewsRig) Throttle(room string) error {
	_, err := r.sim.AddFault(ewssim.Fault{Kind: ewssim.FaultServerBusy, Mailbox: room, BackOffMilliseconds: 600_000, Count: 3})
	return err
}

// Deny scopes the account's ApplicationImpersonation to every room but this one (Exchange
// answers ErrorImpersonateUserDenied), or back to every room.
func (r *ewsRig) Deny(room string, denied bool) error {
	if !denied {
		return r.sim.SetImpersonation(ewssim.DefaultUser, ewssim.ImpersonateAll, nil)
	}
	var scope []string
	for _, info := range r.gs.Rooms() {
		if !strings.EqualFold(info.Mailbox, room) {
			scope = append(scope, info.Mailbox)
		}
	}
	return r.sim.SetImpersonation(ewssim.DefaultUser, ewssim.ImpersonateScope, scope)
}

func (r *ewsRig) DenyFix(room string) string {
	return "New-ManagementRoleAssignment -Name OTJImpersonation -Role ApplicationImpersonation"
}

func (r *ewsRig) Counters(room string) sourcetest.Counters {
	st := r.sim.MailboxStats(room)
	full, early := r.wire.counts(room)
	return sourcetest.Counters{Requests: st.Requests, FullReads: full, Throttled: st.ServerBusy, EarlyRetries: early}
}

// wire watches the source's traffic to ewssim for what ewssim does not count: full reads
// (SyncFolderItems without a SyncState) and requests for a room sent before the
// BackOffMilliseconds of its last ErrorServerBusy had passed. It sits under TLS on each
// connection (the transport's dialer), so the source's own NTLM lanes run unchanged; NTLM's
// handshake legs (answered 401) are not requests of the source.
type wire struct {
	clk   clock.Clock
	ca    *x509.CertPool
	mu    sync.Mutex
	full  map[string]int
	early map[string]int
	until map[string]time.Time
}

var (
	// backOff is the wait ErrorServerBusy asks for (<t:Value Name="BackOffMilliseconds">).
	backOff = regexp.MustCompile(`Name="BackOffMilliseconds">(\d+)<`)
	anchor  = regexp.MustCompile(`(?i)\r\nX-Anchormailbox: ([^\r\n]+)`)
)

func (w *wire) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	raw, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(addr)
	tc := tls.Client(raw, &tls.Config{RootCAs: w.ca, ServerName: host, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return &wireConn{Conn: tc, w: w}, nil
}

// wireConn pairs each request written with the start of the answer read after it (HTTP/1.1
// answers in order; a fault's body fits the first read).
type wireConn struct {
	net.Conn
	w    *wire
	mu   sync.Mutex
	req  []byte
	sent time.Time
}

func (c *wireConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.req) == 0 {
		c.sent = c.w.clk.Now()
	}
	c.req = append(c.req, p...)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *wireConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && bytes.HasPrefix(p[:n], []byte("HTTP/1.1 ")) {
		c.mu.Lock()
		req, sent := c.req, c.sent
		c.req = nil
		c.mu.Unlock()
		if i := bytes.LastIndex(req, []byte("POST ")); i > 0 { // the rest of an answered-early body
			req = req[i:]
		}
		c.w.answered(req, sent, p[:n])
	}
	return n, err
}

func (w *wire) answered(req []byte, sent time.Time, resp []byte) {
	if bytes.HasPrefix(resp, []byte("HTTP/1.1 401")) {
		return
	}
	m := anchor.FindSubmatch(req)
	if m == nil {
		return
	}
	room := strings.ToLower(strings.TrimSpace(string(m[1])))
	w.mu.Lock()
	defer w.mu.Unlock()
	if until, ok := w.until[room]; ok && sent.Before(until) {
		w.early[room]++
	}
	if bytes.HasPrefix(resp, []byte("HTTP/1.1 200")) && bytes.Contains(req, []byte("SyncFolderItems")) && !bytes.Contains(req, []byte("SyncState>")) {
		w.full[room]++
	}
	if bytes.Contains(resp, []byte("ErrorServerBusy")) {
		if b := backOff.FindSubmatch(resp); b != nil {
			ms, _ := strconv.Atoi(string(b[1]))
			w.until[room] = sent.Add(time.Duration(ms) * time.Millisecond)
		}
	}
}

func (w *wire) counts(room string) (full, early int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	room = strings.ToLower(room)
	return w.full[room], w.early[room]
}
