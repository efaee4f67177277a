package ews_test

import (
	"bytes"
	"crypto/tls"
	"io"
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
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sim.CA().Pool(), MinVersion: tls.VersionTLS12},
		// NTLM authenticates a connection: HTTP/1.1 only, as the source's own transport.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}, MaxIdleConnsPerHost: 32}
	t.Cleanup(tr.CloseIdleConnections)
	return &ewsRig{gs: gs, sim: sim, wire: &wire{clk: clk, base: tr, full: map[string]int{}, early: map[string]int{}, until: map[string]time.Time{}}}
}

func (r *ewsRig) Sim() *graphsim.Server { return r.gs }

func (r *ewsRig) Integration() string { return "exchange" }

func (r *ewsRig) NewSource(deps source.Deps, rooms []source.Room, maxInFlight int) (source.Source, error) {
	in := ews.Integration{Name: r.Integration(), URL: r.sim.EWSURL(), Username: ewssim.DefaultDomain + `\` + ewssim.DefaultUser,
		Password: secret.New(ewssim.DefaultPassword), Auth: ews.AuthNTLM, Access: ews.AccessImpersonation,
		MaxInFlight: maxInFlight, Streaming: r.streaming}
	return ews.New(ews.Options{Integration: in, Rooms: rooms, Store: deps.Store, Logger: deps.Logger, Clock: deps.Clock,
		Health: deps.Health, HTTPClient: &http.Client{Transport: r.wire}, Tuning: ews.Tuning{Seed: 1}})
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

// wire watches the source's requests on their way to ewssim for what ewssim does not count:
// full reads (SyncFolderItems without a SyncState) and requests for a room sent before the
// BackOffMilliseconds of its last ErrorServerBusy had passed. NTLM's handshake legs (401) are
// not requests of the source.
type wire struct {
	clk   clock.Clock
	base  http.RoundTripper
	mu    sync.Mutex
	full  map[string]int
	early map[string]int
	until map[string]time.Time
}

// backOff is the wait ErrorServerBusy asks for (<t:Value Name="BackOffMilliseconds">).
var backOff = regexp.MustCompile(`Name="BackOffMilliseconds">(\d+)<`)

func (w *wire) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
		// A copy: NTLM's negotiator resends its own request (and rewinds its own body) on
		// each leg of the handshake.
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	now := w.clk.Now()
	resp, err := w.base.RoundTrip(req)
	if err != nil || resp.StatusCode == http.StatusUnauthorized {
		return resp, err
	}
	room := strings.ToLower(req.Header.Get("X-AnchorMailbox"))
	w.mu.Lock()
	if until, ok := w.until[room]; ok && now.Before(until) {
		w.early[room]++
	}
	if bytes.Contains(body, []byte("SyncFolderItems")) && !bytes.Contains(body, []byte("SyncState>")) && resp.StatusCode == http.StatusOK {
		w.full[room]++
	}
	w.mu.Unlock()
	if resp.StatusCode == http.StatusInternalServerError {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if rerr == nil && bytes.Contains(b, []byte("ErrorServerBusy")) {
			if m := backOff.FindSubmatch(b); m != nil {
				ms, _ := strconv.Atoi(string(m[1]))
				w.mu.Lock()
				w.until[room] = now.Add(time.Duration(ms) * time.Millisecond)
				w.mu.Unlock()
			}
		}
	}
	return resp, err
}

func (w *wire) counts(room string) (full, early int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	room = strings.ToLower(room)
	return w.full[room], w.early[room]
}
