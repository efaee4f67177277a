package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/simulators/mosquitto"
	"github.com/otj-edge/otj-edge/simulators/sim"
	"github.com/otj-edge/otj-edge/simulators/simtls"
)

// e2e is a site on loopback: otj-sim's simulators (graphsim, a ciscosim fleet, a polysim
// fleet) pointed at a real Mosquitto, and the agent in-process on the config otj-sim wrote.
type e2e struct {
	t      *testing.T
	f      sim.File
	cfg    *config.Config
	logs   *syncBuffer
	mqtt   *mqttRecorder
	cancel context.CancelFunc
	done   chan error
	agent  *Agent
}

// syncBuffer is a log sink the agent's goroutines and the test can share.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{} // closed at the next write (waitLog)
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wrote != nil {
		close(s.wrote)
		s.wrote = nil
	}
	return s.b.Write(p)
}

// len is how much has been logged: waitLog looks only past it (a log that spans restarts).
func (s *syncBuffer) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

// waitLog waits until every substr is in the log written since offset from, woken by each write.
func (s *syncBuffer) waitLog(t *testing.T, from int, substrs ...string) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second) // a failure guard, not a wait
	defer deadline.Stop()
	for {
		s.mu.Lock()
		logged := s.b.String()[from:]
		missing := slices.DeleteFunc(slices.Clone(substrs), func(sub string) bool { return strings.Contains(logged, sub) })
		if len(missing) == 0 {
			s.mu.Unlock()
			return
		}
		if s.wrote == nil {
			s.wrote = make(chan struct{})
		}
		wrote := s.wrote
		s.mu.Unlock()
		select {
		case <-wrote:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %q in the log:\n%s", missing, s.String())
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newE2E(t *testing.T) *e2e {
	b := mosquitto.ForTest(t, mosquitto.Options{})
	dir := t.TempDir()
	run, err := sim.Start(t.Context(), sim.Options{Dir: dir, Rooms: 3, Meetings: -1, Cisco: 2, Poly: 1,
		MQTT: b.Addr(), Clean: true})
	require.NoError(t, err)
	t.Cleanup(run.Close)
	e := &e2e{t: t, logs: &syncBuffer{}}
	raw, err := os.ReadFile(run.SimJSON)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &e.f))
	e.cfg, err = config.Load(e.f.Agent.Config)
	require.NoError(t, err)
	e.mqtt = recordMQTT(t, e.f.MQTT.URL)
	return e
}

// start runs the agent until stop (or the test's end).
func (e *e2e) start() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	from := e.logs.len()
	e.agent = New(e.cfg, Options{Logger: NewLogger(e.logs, "text", "debug", SecretsOf(e.cfg), nil)})
	go func() { e.done <- e.agent.Run(ctx) }()
	select {
	case <-e.agent.Ready():
	case err := <-e.done:
		e.t.Fatalf("agent stopped at start: %v\n%s", err, e.logs)
	}
	e.t.Cleanup(e.stop)
	e.logs.waitLog(e.t, from, serving(e.cfg)...)
}

func (e *e2e) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	require.NoError(e.t, <-e.done)
	e.cancel = nil
}

func (e *e2e) room(i int) string { return e.f.Graph.Rooms[i] }

// postEvent delivers an invite to a room through graphsim's admin API.
func (e *e2e) postEvent(room string, ev map[string]any) string {
	var out struct {
		ID string `json:"id"`
	}
	e.call(http.MethodPost, e.f.Graph.Admin+"/rooms/"+room+"/events", ev, &out)
	require.NotEmpty(e.t, out.ID)
	return out.ID
}

func (e *e2e) call(method, url string, body, out any) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(e.t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, url, r)
	require.NoError(e.t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Less(e.t, resp.StatusCode, 300, "%s %s: %s", method, url, b)
	if out != nil {
		require.NoError(e.t, json.Unmarshal(b, out), string(b))
	}
}

type booking struct {
	Title           string
	Number          string
	Protocol        string
	MeetingPlatform string
	Time            struct {
		StartTime string
		Duration  int
	}
}

func (b booking) String() string {
	return fmt.Sprintf("%s|%s|%s|%s|%s|%d", b.Title, b.Number, b.Protocol, b.MeetingPlatform, b.Time.StartTime, b.Time.Duration)
}

// bookings is what a codec holds now, sorted.
func (e *e2e) bookings(codec string) []string {
	var doc struct{ Bookings []booking }
	e.call(http.MethodGet, e.f.CiscoAdmin+"/codecs/"+codec+"/bookings", nil, &doc)
	out := make([]string, len(doc.Bookings))
	for i, b := range doc.Bookings {
		out[i] = b.String()
	}
	sort.Strings(out)
	return out
}

// polyShows makes the Poly endpoint poll now and returns what it shows, sorted.
func (e *e2e) polyShows(name string) []string {
	var doc struct {
		State    string
		Meetings []struct {
			Subject    string
			Start      time.Time
			DialString string `json:"dial_string"`
			CanDial    bool   `json:"canDial"`
		}
	}
	e.call(http.MethodPost, e.f.PolyAdmin+"/endpoints/"+name+"/poll", nil, &doc)
	out := make([]string, len(doc.Meetings))
	for i, m := range doc.Meetings {
		out[i] = fmt.Sprintf("%s|%s|%s|%v", m.Subject, m.Start.UTC().Format(time.RFC3339), m.DialString, m.CanDial)
	}
	sort.Strings(out)
	return out
}

// eventually polls a simulator's state (no signal crosses the process boundary) until it
// equals want, with a bounded wait.
func eventually(t *testing.T, what string, want []string, got func() []string) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	var last []string
	for time.Now().Before(deadline) {
		if last = got(); fmt.Sprint(last) == fmt.Sprint(want) {
			return
		}
		time.Sleep(200 * time.Millisecond) // polling a simulator over HTTP: no event to wait on
	}
	assert.Equal(t, want, last, what)
	t.FailNow()
}

// mqttRecorder keeps every message the site publishes.
type mqttRecorder struct {
	mu   sync.Mutex
	msgs map[string][]string // topic → payloads
}

func recordMQTT(t *testing.T, url string) *mqttRecorder {
	r := &mqttRecorder{msgs: map[string][]string{}}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID("e2e-recorder").SetOrderMatters(false)
	opts.SetOnConnectHandler(func(c paho.Client) {
		c.Subscribe("otj/v1/#", 1, func(_ paho.Client, m paho.Message) {
			r.mu.Lock()
			r.msgs[m.Topic()] = append(r.msgs[m.Topic()], string(m.Payload()))
			r.mu.Unlock()
		})
	})
	c := paho.NewClient(opts)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(100) })
	return r
}

func (r *mqttRecorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for topic, ps := range r.msgs {
		for _, p := range ps {
			b.WriteString(topic + " " + p + "\n")
		}
	}
	return b.String()
}

func (r *mqttRecorder) last(topic string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := r.msgs[topic]
	if len(ps) == 0 {
		return ""
	}
	return ps[len(ps)-1]
}

// TestEndToEnd runs the whole product on loopback: graphsim → agent → ciscosim and polysim,
// with telemetry to a real Mosquitto. It checks the exact bookings on each codec and meetings
// on the Poly, that an edit in Microsoft 365 reaches its codec, and that with Microsoft 365
// gone and the agent restarted, codecs and Polys keep their meetings.
func TestEndToEnd(t *testing.T) {
	e := newE2E(t)
	// The simulated rooms: codec 0 in room 0, codec 1 in room 1, the Poly in room 2.
	require.Len(t, e.f.Cisco, 2)
	require.Len(t, e.f.Poly, 1)
	codec0, codec1, poly := e.f.Cisco[0].Name, e.f.Cisco[1].Name, e.f.Poly[0].Name

	base := time.Now().UTC().Truncate(time.Hour).Add(2 * time.Hour)
	at := func(h int) map[string]string {
		return map[string]string{"dateTime": base.Add(time.Duration(h) * time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"}
	}
	organizer := map[string]any{"emailAddress": map[string]string{"name": "Ada Berg", "address": "ada.berg@contoso.example"}}
	invite := func(subject, html string, h int) map[string]any {
		return map[string]any{"subject": subject, "body": map[string]string{"contentType": "html", "content": html},
			"start": at(h), "end": map[string]string{"dateTime": base.Add(time.Duration(h)*time.Hour + 30*time.Minute).Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
			"organizer": organizer}
	}
	zoomID := e.postEvent(e.room(0), invite("Zoom review",
		`<p>Join Zoom Meeting<br><a href="https://contoso.zoom.us/j/81234567890?pwd=Zk1aQ">https://contoso.zoom.us/j/81234567890?pwd=Zk1aQ</a></p><p>Meeting ID: 812 3456 7890<br>Passcode: 246810</p>`, 0))
	e.postEvent(e.room(0), invite("Vendor VMR", `<p>Please join: sip:4455@vmr.example.com</p>`, 1))
	e.postEvent(e.room(1), invite("Webex sync",
		`<p>Join meeting <a href="https://contoso.webex.com/contoso/j.php?MTID=m1">https://contoso.webex.com/contoso/j.php?MTID=m1</a></p><p>Join by video system<br>Dial <a href="sip:25512345678@contoso.webex.com">25512345678@contoso.webex.com</a></p>`, 2))
	e.postEvent(e.room(2), invite("Board call", `<p>Video: sip:board@vc.contoso.example</p>`, 0))
	e.postEvent(e.room(2), invite("Lunch", `<p>Canteen, 2nd floor</p>`, 3))

	e.start()
	st := func(h int) string { return base.Add(time.Duration(h) * time.Hour).Format("2006-01-02T15:04:05Z") }
	eventually(t, "codec 0 bookings", []string{
		"Vendor VMR|4455@vmr.example.com|SIP|Other|" + st(1) + "|30",
		"Zoom review|81234567890.246810@zoomcrc.com|SIP|Zoom|" + st(0) + "|30",
	}, func() []string { return e.bookings(codec0) })
	eventually(t, "codec 1 bookings", []string{
		"Webex sync|25512345678@contoso.webex.com|SIP|Webex|" + st(2) + "|30",
	}, func() []string { return e.bookings(codec1) })
	eventually(t, "poly meetings", []string{
		"Board call|" + base.Format(time.RFC3339) + "|board@vc.contoso.example|true",
		"Lunch|" + base.Add(3*time.Hour).Format(time.RFC3339) + "||false",
	}, func() []string { return e.polyShows(poly) })

	// Telemetry reached the broker: the retained online status and the rooms' state.
	require.Eventually(t, func() bool {
		return strings.Contains(e.mqtt.last("otj/v1/sim/status"), `"state":"online"`) &&
			e.mqtt.last("otj/v1/sim/rooms/"+e.room(0)) != ""
	}, 30*time.Second, 50*time.Millisecond)

	// An edit in Microsoft 365 reaches the codec (the operator's sync makes it immediate; the
	// scheduler's own pace is measured by make bench).
	e.call(http.MethodPatch, e.f.Graph.Admin+"/rooms/"+e.room(0)+"/events/"+zoomID, map[string]any{"subject": "Zoom review (moved)", "start": at(4),
		"end": map[string]string{"dateTime": base.Add(4*time.Hour + 30*time.Minute).Format("2006-01-02T15:04:05"), "timeZone": "UTC"}}, nil)
	require.NoError(t, e.agent.Sync(t.Context(), e.room(0), false))
	want0 := []string{
		"Vendor VMR|4455@vmr.example.com|SIP|Other|" + st(1) + "|30",
		"Zoom review (moved)|81234567890.246810@zoomcrc.com|SIP|Zoom|" + st(4) + "|30",
	}
	eventually(t, "codec 0 after the edit", want0, func() []string { return e.bookings(codec0) })

	// Microsoft 365 goes away and the agent restarts: rooms keep their buttons from the
	// store. A codec that reboots meanwhile (losing its bookings) gets them back.
	e.call(http.MethodPost, e.f.Graph.Admin+"/faults", map[string]any{"kind": "drop"}, nil)
	e.call(http.MethodPost, e.f.Graph.Admin+"/faults", map[string]any{"kind": "token", "status": 503}, nil)
	e.stop()
	e.call(http.MethodPost, e.f.CiscoAdmin+"/codecs/"+codec0+"/reboot", map[string]any{"down_ms": 200}, nil)
	e.start()
	eventually(t, "codec 0 after reboot, Graph down", want0, func() []string { return e.bookings(codec0) })
	eventually(t, "poly with Graph down", []string{
		"Board call|" + base.Format(time.RFC3339) + "|board@vc.contoso.example|true",
		"Lunch|" + base.Add(3*time.Hour).Format(time.RFC3339) + "||false",
	}, func() []string { return e.polyShows(poly) })
	st2, _, err := e.agent.store.Room(t.Context(), e.room(0))
	require.NoError(t, err)
	cur, err := e.agent.store.Cursor(t.Context(), e.room(0), st2.Integration)
	require.NoError(t, err)
	assert.Contains(t, cur, "deltatoken", "the room keeps its delta state for when Graph is back")

	// No configured secret reached the logs or the broker.
	assertNoSecrets(t, e.cfg, "agent logs", e.logs.String())
	assertNoSecrets(t, e.cfg, "MQTT messages", e.mqtt.all())
}

// TestNoSecretInCheckOutput runs `otj-edge check` (online, against the simulators) and checks
// that no configured secret appears in what it prints.
func TestNoSecretInCheckOutput(t *testing.T) {
	e := newE2E(t)
	env := map[string]string{}
	code, stdout, stderr := runCLI(t, env, "check", "--config", e.f.Agent.Config, "--timeout", "60s")
	out := stdout + stderr
	// Everything passes but the Poly endpoint's calendar, which cannot be online while no
	// agent serves it: check says so and exits 1.
	assert.Equal(t, ExitFailure, code, out)
	assert.Contains(t, out, "1 check(s) failed", out)
	assert.Regexp(t, `FAIL  poly room-03-poly: .* calendaring as OFFLINE`, out)
	require.Contains(t, out, "config ok:", out)
	assert.Contains(t, out, e.room(0), "the online check names each room")
	assertNoSecrets(t, e.cfg, "check output", out)
}

func assertNoSecrets(t *testing.T, cfg *config.Config, where, text string) {
	t.Helper()
	secrets := SecretsOf(cfg)
	require.NotEmpty(t, secrets)
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s contain a configured secret (%d characters)", where, len(s))
		}
	}
}

// TestReloadSwapsConfigAtomically reloads the running agent's config: a broken file is
// refused with its problems and the running config stays; a good one is swapped in, its
// rooms re-resolved, and only the parts whose settings changed restart.
func TestReloadSwapsConfigAtomically(t *testing.T) {
	e := newE2E(t)
	base := time.Now().UTC().Truncate(time.Hour).Add(2 * time.Hour)
	e.postEvent(e.room(0), map[string]any{"subject": "VMR", "body": map[string]string{"contentType": "html", "content": "<p>sip:77@vmr.example.com</p>"},
		"start":     map[string]string{"dateTime": base.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end":       map[string]string{"dateTime": base.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"organizer": map[string]any{"emailAddress": map[string]string{"name": "Ada Berg", "address": "ada.berg@contoso.example"}}})
	e.start()
	buffer := func() []string {
		var doc struct {
			Bookings []struct {
				Title string
				Time  struct{ StartTimeBuffer int }
			}
		}
		e.call(http.MethodGet, e.f.CiscoAdmin+"/codecs/"+e.f.Cisco[0].Name+"/bookings", nil, &doc)
		var out []string
		for _, b := range doc.Bookings {
			out = append(out, fmt.Sprintf("%s %d", b.Title, b.Time.StartTimeBuffer))
		}
		return out
	}
	eventually(t, "5 minute buffer", []string{"VMR 300"}, buffer)

	good, err := os.ReadFile(e.f.Agent.Config)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(e.f.Agent.Config, append(append([]byte{}, good...), []byte("bogus_key: 1\n")...), 0o600))
	err = e.agent.Reload(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown key "bogus_key"`)
	assert.Same(t, e.cfg, e.agent.Config(), "a refused reload keeps the running config")

	changed := strings.Replace(string(good), "start_buffer: 5m", "start_buffer: 10m", 1)
	require.NotEqual(t, string(good), changed)
	require.NoError(t, os.WriteFile(e.f.Agent.Config, []byte(changed), 0o600))
	require.NoError(t, e.agent.Reload(t.Context()))
	assert.Equal(t, 10*time.Minute, *e.agent.Config().Profiles[0].StartBuffer)
	eventually(t, "10 minute buffer after reload", []string{"VMR 600"}, buffer)

	evs, err := e.agent.store.RecentEvents(t.Context(), 20)
	require.NoError(t, err)
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	assert.Contains(t, kinds, "config.reload_failed")
	assert.Contains(t, kinds, "config.reloaded")
}

// TestReloadMovesGraphToACertificate: the admin uploads a certificate to the app registration,
// points client_certificate_file at it instead of client_secret and reloads; the Graph part
// restarts on the certificate, and once the secret is deleted in Entra (every token it got
// revoked) edits still reach the codec.
func TestReloadMovesGraphToACertificate(t *testing.T) {
	e := newE2E(t)
	base := time.Now().UTC().Truncate(time.Hour).Add(2 * time.Hour)
	event := func(subject string) map[string]any {
		return map[string]any{"subject": subject, "body": map[string]string{"contentType": "html", "content": "<p>sip:77@vmr.example.com</p>"},
			"start":     map[string]string{"dateTime": base.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
			"end":       map[string]string{"dateTime": base.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
			"organizer": map[string]any{"emailAddress": map[string]string{"name": "Ada Berg", "address": "ada.berg@contoso.example"}}}
	}
	id := e.postEvent(e.room(0), event("VMR"))
	e.start()
	codec0 := e.f.Cisco[0].Name
	titles := func() []string {
		var out []string
		for _, b := range e.bookings(codec0) {
			title, _, _ := strings.Cut(b, "|")
			out = append(out, title)
		}
		return out
	}
	eventually(t, "the meeting on the codec (client secret)", []string{"VMR"}, titles)

	now := time.Now()
	cert, err := simtls.NewAppCertificate("otj-edge sim site", now.AddDate(0, 0, -1), now.AddDate(2, 0, 0))
	require.NoError(t, err)
	e.call(http.MethodPatch, e.f.Graph.Admin+"/app", map[string]any{"client_certificates": []string{string(cert.CertPEM())}}, nil)
	require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(e.f.Agent.Config), "graph.pem"), cert.PEM(), 0o600))
	raw, err := os.ReadFile(e.f.Agent.Config)
	require.NoError(t, err)
	secretLine := regexp.MustCompile(`(?m)^(\s*)client_secret:.*$`)
	require.True(t, secretLine.Match(raw))
	require.NoError(t, os.WriteFile(e.f.Agent.Config, secretLine.ReplaceAll(raw, []byte("${1}client_certificate_file: graph.pem")), 0o600))
	require.NoError(t, e.agent.Reload(t.Context()))
	assert.True(t, e.agent.Config().Integrations[0].Graph().UsesCertificate())

	// The secret is deleted in Entra and every token issued so far revoked: only the
	// certificate gets the agent into Graph now.
	e.call(http.MethodPatch, e.f.Graph.Admin+"/app", map[string]any{"client_secret": "deleted-" + strconv.Itoa(int(now.Unix())), "revoke_tokens": true}, nil)
	e.call(http.MethodPatch, e.f.Graph.Admin+"/rooms/"+e.room(0)+"/events/"+id, map[string]any{"subject": "VMR (renamed)"}, nil)
	require.NoError(t, e.agent.Sync(t.Context(), e.room(0), false))
	eventually(t, "the edit on the codec (certificate)", []string{"VMR (renamed)"}, titles)
	assert.NotContains(t, e.logs.String(), "PRIVATE KEY")
}
