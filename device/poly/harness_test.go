package poly

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/simulators/polysim"
	"github.com/otj-edge/otj-edge/simulators/simtls"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// t0 is the tests' "now": Monday 5 May 2025, 08:00 UTC.
var t0 = time.Date(2025, 5, 5, 8, 0, 0, 0, time.UTC)

const (
	roomA = "room-a@contoso.example"
	roomB = "room-b@contoso.example"
	roomC = "room-c@contoso.example" // has no endpoint here: nobody may read it
)

func at(h, m int) time.Time {
	return t0.Truncate(24 * time.Hour).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

// roomAMeetings are room A's resolved meetings, as the rules stage writes them for a profile
// with replace_subject: private (a private meeting shows its organizer's name).
func roomAMeetings() []calendar.Meeting {
	return []calendar.Meeting{
		{ID: "weekly-sync-20250505T0900", EventID: "ev1", ICalUID: "uid-weekly", Start: at(9, 0), End: at(9, 30),
			StartBuffer: calendar.Duration(5 * time.Minute), Subject: "Weekly sync", Organizer: "Alice Example", OrganizerEmail: "alice@contoso.example",
			Join: true, Number: "8004711@vc.contoso.example", Protocol: calendar.ProtocolSIP, Platform: calendar.PlatformTeams, Rule: "teams"},
		{ID: "budget-20250505T1000", EventID: "ev2", Start: at(10, 0), End: at(11, 0), Subject: "Budget review & <forecast>",
			Organizer: "Bob Example", OrganizerEmail: "bob@contoso.example", Join: false, Protocol: calendar.ProtocolNone, Reason: "no video address"},
		{ID: "standup-20250505T1100", EventID: "ev3", SeriesMasterID: "master-standup", Start: at(11, 0), End: at(11, 15),
			Subject: "Stand-up", Organizer: "Alice Example", Join: true, Number: "85551234567.4321@zoomcrc.com", Protocol: calendar.ProtocolSIP,
			Platform: calendar.PlatformZoom, Rule: "zoom"},
		{ID: "private-20250505T1300", EventID: "ev4", Start: at(13, 0), End: at(14, 0), Subject: "Dan Example", Private: true,
			Organizer: "Dan Example", Join: true, Number: "meet.dan@vmr.contoso.example", Protocol: calendar.ProtocolSIP, Rule: "fallback"},
		{ID: "far-future-20250520T0900", EventID: "ev5", Start: t0.AddDate(0, 0, 15), End: t0.AddDate(0, 0, 15).Add(time.Hour),
			Subject: "Beyond the endpoint's look-ahead", Join: true, Number: "far@vc.contoso.example", Protocol: calendar.ProtocolSIP},
	}
}

// roomBMeetings are room B's, for a profile with hide_private_address: a private meeting
// shows without an address.
func roomBMeetings() []calendar.Meeting {
	return []calendar.Meeting{
		{ID: "earlier-20250505T0600", EventID: "evb0", Start: at(6, 0), End: at(7, 0), Subject: "Early call (already over)",
			Join: true, Number: "early@vc.contoso.example", Protocol: calendar.ProtocolSIP},
		{ID: "board-20250505T0900", EventID: "evb1", Start: at(9, 0), End: at(10, 0), Subject: "Board meeting",
			Join: true, Number: "10.0.0.5##1234", Protocol: calendar.ProtocolH323, Rule: "h323"},
		{ID: "private-b-20250505T1200", EventID: "evb2", Start: at(12, 0), End: at(12, 30), Subject: "Carol Example", Private: true,
			Organizer: "Carol Example", Join: false, Reason: "private meeting: address hidden by the profile"},
		{ID: "teams-webrtc-20250505T1500", EventID: "evb3", Start: at(15, 0), End: at(16, 0), Subject: "Teams without SIP",
			Join: true, Number: "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc", Protocol: calendar.ProtocolWebRTC,
			Platform: calendar.PlatformTeams, Rule: "teams"},
	}
}

func roomCMeetings() []calendar.Meeting {
	return []calendar.Meeting{{ID: "c-secret", EventID: "evc", Start: at(9, 0), End: at(10, 0), Subject: "Room C only",
		Join: true, Number: "c@vc.contoso.example", Protocol: calendar.ProtocolSIP}}
}

// Credentials of the two endpoints.
const (
	userA, passA = "poly-a", "s3cret-A-calendar"
	userB, passB = "poly-b@contoso.example", "s3cret-B-calendar"
)

// fixture is a store with rooms A, B and C and their meetings, and the service's options.
type fixture struct {
	t      testing.TB
	st     *store.Store
	clk    *clock.Fake
	health *health.Tracker
	ca     *simtls.CA
	dir    string
	opts   Options
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	clk := clock.NewFake(t0)
	dir := t.TempDir()
	st, err := store.Open(t.Context(), filepath.Join(dir, "otj-edge.db"), store.Options{Now: clk.Now})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		if err := tx.SyncRooms([]store.RoomRef{{Mailbox: roomA}, {Mailbox: roomB}, {Mailbox: roomC}}); err != nil {
			return err
		}
		if err := tx.SyncEndpoints([]store.EndpointRef{{Name: "poly-a", Type: "poly", Room: roomA}, {Name: "poly-b", Type: "poly", Room: roomB}}); err != nil {
			return err
		}
		for room, ms := range map[string][]calendar.Meeting{roomA: roomAMeetings(), roomB: roomBMeetings(), roomC: roomCMeetings()} {
			if _, err := stored.ReplaceMeetings(tx, room, ms); err != nil {
				return err
			}
			// The rooms have synced (the service serves only rooms that have).
			if err := tx.PutRoom(store.RoomState{Mailbox: room, Status: store.RoomOK, LastSuccess: t0.Add(-time.Minute)}); err != nil {
				return err
			}
			if err := tx.MarkResolved(room, t0.Add(-time.Minute)); err != nil {
				return err
			}
		}
		return nil
	}))
	ca, err := simtls.NewCA("poly test CA")
	require.NoError(t, err)
	cert, err := ca.Issue("127.0.0.1", "localhost")
	require.NoError(t, err)
	certFile, keyFile := filepath.Join(dir, "ews.crt"), filepath.Join(dir, "ews.key")
	require.NoError(t, simtls.WritePair(cert, certFile, keyFile))
	h := health.New(clk.Now)
	return &fixture{t: t, st: st, clk: clk, health: h, ca: ca, dir: dir, opts: Options{
		Listen: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, StateDir: filepath.Join(dir, "state"),
		Endpoints: []Account{
			{Name: "poly-a", Room: roomA, Username: userA, Password: secret.New(passA)},
			{Name: "poly-b", Room: roomB, Username: userB, Password: secret.New(passB)},
		},
		Store: st, Clock: clk, Health: h, Logger: testLogger(t),
	}}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// start runs the service until the test ends.
func (f *fixture) start() *Service {
	f.t.Helper()
	svc, err := NewService(f.opts)
	require.NoError(f.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	f.t.Cleanup(func() {
		cancel()
		require.NoError(f.t, <-done)
	})
	select {
	case <-svc.Ready():
	case err := <-done:
		f.t.Fatalf("service stopped: %v", err)
	case <-time.After(10 * time.Second):
		f.t.Fatal("service did not start")
	}
	return svc
}

// fleet starts polysim endpoints for A and B against svc.
func (f *fixture) fleet(svc *Service, tweak func(*polysim.EndpointOptions)) *polysim.Fleet {
	f.t.Helper()
	url := "https://" + svc.Addr() + "/EWS/Exchange.asmx"
	eps := []polysim.EndpointOptions{
		{Name: "poly-a", Room: roomA, EWSURL: url, Username: userA, Password: passA, RootCAs: f.ca.Pool()},
		{Name: "poly-b", Room: roomB, EWSURL: url, Username: userB, Password: passB, RootCAs: f.ca.Pool(), ShowPrivate: true},
	}
	for i := range eps {
		if tweak != nil {
			tweak(&eps[i])
		}
	}
	fl, err := polysim.Start(f.t.Context(), polysim.Options{Endpoints: eps, Now: f.clk.Now, Logger: testLogger(f.t)})
	require.NoError(f.t, err)
	f.t.Cleanup(fl.Close)
	return fl
}

// client is an HTTPS client trusting the fixture's CA, optionally from a given local address.
func (f *fixture) client(localIP string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if localIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext:     d.DialContext,
		TLSClientConfig: &tls.Config{RootCAs: f.ca.Pool()},
	}}
}

// soap posts a request body (the operation element) wrapped in an envelope.
func soap(t *testing.T, c *http.Client, svc *Service, user, pass, op string) (int, string) {
	t.Helper()
	return post(t, c, svc, "/EWS/Exchange.asmx", user, pass, envelope(op))
}

func post(t *testing.T, c *http.Client, svc *Service, path, user, pass, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+svc.Addr()+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	if user != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func envelope(op string) string {
	return `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="` + nsSOAP + `" xmlns:m="` + nsMsgs + `" xmlns:t="` + nsTypes + `">` +
		`<soap:Header><t:RequestServerVersion Version="Exchange2010_SP2"/></soap:Header><soap:Body>` + op + `</soap:Body></soap:Envelope>`
}

// responseCodes lists every m:ResponseCode in a response, in order.
func responseCodes(t *testing.T, body string) []string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(body))
	var out []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err, body)
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "ResponseCode" && se.Name.Space == nsMsgs {
			var s string
			require.NoError(t, d.DecodeElement(&s, &se))
			out = append(out, s)
		}
	}
}

// waitTimer returns once the fake clock has a timer waiting (a goroutine blocked on it).
func waitTimer(t *testing.T, clk *clock.Fake, want int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		created := clk.TimerCreated()
		if clk.Timers() >= want {
			return
		}
		select {
		case <-created:
		case <-deadline:
			t.Fatalf("no goroutine waits on the clock (%d timers, want %d)", clk.Timers(), want)
		}
	}
}

// events lists the kinds of the store's recent events for an endpoint, oldest first.
func events(t *testing.T, st *store.Store, endpoint string) []store.LoggedEvent {
	t.Helper()
	evs, err := st.RecentEvents(t.Context(), 100)
	require.NoError(t, err)
	var out []store.LoggedEvent
	for i := len(evs) - 1; i >= 0; i-- {
		if endpoint == "" || evs[i].Endpoint == endpoint {
			out = append(out, evs[i])
		}
	}
	return out
}

func kinds(evs []store.LoggedEvent) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

func healthOf(h *health.Tracker, comp string) health.Item {
	for _, it := range h.Snapshot() {
		if it.Component == comp {
			return it
		}
	}
	return health.Item{}
}

// lockedBuffer collects log output written from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// newLockedLogger logs into b (read it with logText).
func newLockedLogger(b *bytes.Buffer) *slog.Logger {
	lb := &lockedBuffer{b: b}
	lockedBuffers.Store(b, lb)
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

var lockedBuffers sync.Map

// logText reads what was logged into b.
func logText(b *bytes.Buffer) string {
	v, _ := lockedBuffers.Load(b)
	lb := v.(*lockedBuffer)
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return b.String()
}

var _ = fmt.Sprintf
