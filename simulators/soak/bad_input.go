package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/simulators/harness"
	"github.com/otj-edge/otj-edge/simulators/polysim"
)

func init() { register("bad_input", badInput) }

// badInput feeds the agent hostile input at every door and checks that each gets a clear
// error, that the agent keeps serving and that nothing it stored is lost:
//
//   - malformed configs: `otj-edge check` exits 2 naming the file, the line and the problem,
//     and never prints a secret;
//
//   - malformed invites in Graph (junk HTML, NUL bytes, megabytes of body, a 10,000-character
//     subject, deeply nested tags, an end before the start);
//
//   - hostile SOAP to the EWS service (polysim's junk requests: malformed XML, not XML, an
//     entity bomb, an external entity, deep nesting, unknown operations, wrong namespaces,
//     50 MB bodies with and without a length);
//
//   - bad requests to the status API (oversized and malformed action bodies, bad queries).
//
//   - JSON-RPC garbage from a codec (ciscosim's junk_frames fault: non-JSON text, binary
//     frames, answers to requests never made, wrong types, a 256 KiB frame) while bookings are
//     pushed to it.
func badInput(ctx context.Context, e *env, r *Result) error {
	s, err := startSite(ctx, e.bins, e.dir, siteOpts{rooms: 3, meetings: 10, cisco: 2, poly: 1, config: soakConfig})
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.waitSynced(ctx, 60*time.Second); err != nil {
		return fmt.Errorf("first sync: %w", err)
	}
	if diffs, _ := s.converged(ctx, 30*time.Second); len(diffs) > 0 {
		return fmt.Errorf("codecs did not converge first: %v", diffs)
	}
	before, err := s.meetingIDs(ctx)
	if err != nil {
		return err
	}
	r.Counts["meetings_before"] = len(before)

	badConfigs(ctx, e, s, r)
	if err := badInvites(ctx, s, r); err != nil {
		return err
	}
	if err := badSOAP(ctx, s, r); err != nil {
		return err
	}
	badStatusRequests(ctx, s, r)
	if err := badFrames(ctx, s, r); err != nil {
		return err
	}

	// Still serving, and nothing lost: every meeting from before is still stored (the junk
	// invites may add some), the codecs hold the right bookings, the Poly endpoint polls.
	r.check(s.alive(), "the agent is not running after the hostile input")
	if err := waitFor(ctx, 60*time.Second, time.Second, func() error { return roomsOK(ctx, s) }); err != nil {
		r.failf("rooms not ok after the junk invites: %v", err)
	}
	after, err := s.meetingIDs(ctx)
	if err != nil {
		return err
	}
	lost := 0
	for id := range before {
		if !after[id] {
			lost++
		}
	}
	r.Counts["meetings_after"] = len(after)
	r.Counts["meetings_lost"] = lost
	r.check(lost == 0, "%d meetings stored before the hostile input are gone", lost)
	if diffs, _ := s.converged(ctx, 30*time.Second); len(diffs) > 0 {
		r.failf("codecs not converged after the hostile input: %v", diffs)
	}
	for _, p := range s.sim.File.Poly {
		if _, err := s.shown(ctx, "", p.Name); err != nil {
			r.failf("the Poly endpoint cannot poll after the junk: %v", err)
		}
	}
	if err := s.agent.Stop(15 * time.Second); err != nil {
		r.failf("the agent did not stop cleanly: %v", err)
	}
	c, err := harness.CheckStore(ctx, s.dbPath())
	if err != nil {
		return err
	}
	r.check(c.Integrity == "ok", "integrity_check: %s", c.Integrity)
	return nil
}

// meetingIDs lists the ids of every meeting the agent stores from today on.
func (s *site) meetingIDs(ctx context.Context) (map[string]bool, error) {
	var ms []web.Meeting
	if err := callJSON(ctx, http.MethodGet, s.sim.File.Agent.StatusURL+"/api/meetings", nil, &ms); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, m := range ms {
		// Meetings may end meanwhile and leave "from today" only at midnight: a stable set.
		out[m.ID] = true
	}
	return out, nil
}

// badConfigs runs `otj-edge check` on broken variants of the site's config.
func badConfigs(ctx context.Context, e *env, s *site, r *Result) {
	good, err := os.ReadFile(s.cfgPath)
	if err != nil {
		r.failf("read the config: %v", err)
		return
	}
	secret := s.sim.File.Graph.ClientSecret
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown key", string(good) + "\nbogus_key: 1\n", `unknown key "bogus_key"`},
		{"yaml syntax", string(good) + "\nsite: [unclosed\n", "did not find expected"},
		{"empty file", "", "empty"},
		{"binary junk", "\x00\x01\x02\xff\xfe garbage", ":"},
		{"bad endpoint type", strings.Replace(string(good), "type: cisco", "type: fax", 1), "fax"},
		{"bad duration", strings.Replace(string(good), "window_past: 1h", "window_past: soon", 1), "expected a duration"},
		{"missing secret variable", strings.Replace(string(good), secret, "${OTJ_SOAK_NO_SUCH_VARIABLE}", 1), "OTJ_SOAK_NO_SUCH_VARIABLE"},
	}
	clear := 0
	for i, c := range cases {
		path := filepath.Join(e.dir, fmt.Sprintf("bad-config-%d.yaml", i))
		if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
			r.failf("write %s: %v", path, err)
			continue
		}
		cmd := exec.CommandContext(ctx, s.bins.Agent, "check", "--config", path)
		cmd.Env = append(os.Environ(), "OTJ_SOAK_NO_SUCH_VARIABLE=")
		cmd.Env = cmd.Env[:len(cmd.Env)-1]
		out, err := cmd.CombinedOutput()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		}
		ok := r.check(code == 2, "config %q: otj-edge check exited %d, want 2: %s", c.name, code, firstLines(out))
		ok = r.check(strings.Contains(string(out), path) && strings.Contains(string(out), c.want),
			"config %q: the message does not name the file and %q: %s", c.name, c.want, firstLines(out)) && ok
		ok = r.check(!strings.Contains(string(out), secret), "config %q: the output shows the client secret", c.name) && ok
		if ok {
			clear++
		}
	}
	r.Counts["bad_configs"] = len(cases)
	r.Counts["bad_configs_clear_errors"] = clear
}

func firstLines(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// badInvites posts junk events to every room and makes the agent sync them.
func badInvites(ctx context.Context, s *site, r *Result) error {
	start := time.Now().Add(3 * time.Hour).Truncate(time.Minute)
	deep := strings.Repeat("<div><span>", 20000) + "sip:deep@video.example.com" + strings.Repeat("</span></div>", 20000)
	bodies := []struct{ name, content string }{
		{"unclosed html", "<html><body><p>Join <a href=\"sip:1@x.example.com"},
		{"nul bytes", "Join\x00 sip:\x00123@video.example.com \x00\x01\x02"},
		{"megabytes", strings.Repeat("lorem ipsum <b>dolor</b> ", 100000)},
		{"deep nesting", deep},
		{"invalid utf-8", "Join \xff\xfe\xfd sip:bad\xc3\x28@video.example.com"},
		{"only a script", "<script>while(true){}</script><style>*{}</style>"},
	}
	posted, refused := 0, 0
	why := map[string]int{}
	refuse := func(name string, err error) {
		refused++
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		why[name+": "+strings.TrimRight(firstLines([]byte(msg)), `"}`)]++
	}
	for _, room := range s.sim.File.Graph.Rooms {
		for i, b := range bodies {
			ev := event("junk "+b.name, start.Add(time.Duration(i)*10*time.Minute), start.Add(time.Duration(i)*10*time.Minute+5*time.Minute))
			ev["body"] = map[string]string{"contentType": "html", "content": b.content}
			if _, err := s.graph().post(ctx, room, ev); err != nil {
				refuse(b.name, err)
				continue
			}
			posted++
		}
		long := event(strings.Repeat("S", 10000), start.Add(2*time.Hour), start.Add(3*time.Hour))
		if _, err := s.graph().post(ctx, room, long); err == nil {
			posted++
		} else {
			refuse("long subject", err)
		}
		backwards := event("junk ends before it starts", start.Add(4*time.Hour), start.Add(3*time.Hour))
		if _, err := s.graph().post(ctx, room, backwards); err == nil {
			posted++
		} else {
			refuse("ends before it starts", err)
		}
	}
	r.Counts["junk_invites_posted"] = posted
	r.Counts["junk_invites_refused_by_graphsim"] = refused
	r.Counts["junk_invites_refused_why"] = why
	r.check(posted > 0, "graphsim took none of the junk invites")
	if err := s.action(ctx, "sync", map[string]any{}); err != nil {
		r.failf("sync after the junk invites: %v", err)
	}
	// Wait for them to be stored (the agent resolves what it can of each).
	stored := 0
	if err := waitFor(ctx, 60*time.Second, 500*time.Millisecond, func() error {
		var ms []web.Meeting
		if err := callJSON(ctx, http.MethodGet, s.sim.File.Agent.StatusURL+"/api/meetings", nil, &ms); err != nil {
			return err
		}
		stored = 0
		for _, m := range ms {
			if strings.HasPrefix(m.Subject, "junk") || strings.HasPrefix(m.Subject, "SSSS") {
				stored++
			}
		}
		if stored < posted {
			return fmt.Errorf("%d of %d junk invites stored", stored, posted)
		}
		return nil
	}); err != nil {
		r.failf("the junk invites were not all stored: %v", err)
	}
	r.Counts["junk_invites_stored"] = stored
	return nil
}

// badSOAP sends polysim's hostile EWS requests.
func badSOAP(ctx context.Context, s *site, r *Result) error {
	if len(s.sim.File.Poly) == 0 {
		return errors.New("no Poly endpoint")
	}
	ep := s.sim.File.Poly[0].Name
	answered := 0
	for _, kind := range polysim.JunkKinds {
		var res polysim.JunkResult
		if err := callJSON(ctx, http.MethodPost, s.sim.File.PolyAdmin+"/endpoints/"+pathEscape(ep)+"/junk", map[string]string{"kind": kind}, &res); err != nil {
			return fmt.Errorf("send junk %s: %w", kind, err)
		}
		oversize := strings.HasPrefix(kind, "oversize")
		switch {
		case res.Status >= 400 && res.Status < 500:
			answered++
		case res.Status == http.StatusInternalServerError && res.FaultCode != "":
			answered++ // a SOAP fault that says what is wrong
		case oversize && res.Error != "" && res.BytesSent < 50<<20:
			answered++ // the server stopped reading and closed: the 50 MB were never taken in
		default:
			r.failf("EWS junk %s: status %d fault %q error %q after %d bytes", kind, res.Status, res.FaultCode, res.Error, res.BytesSent)
		}
		if !s.alive() {
			return fmt.Errorf("the agent exited on EWS junk %s; see %s", kind, s.agent.Log)
		}
	}
	r.Counts["ews_junk_requests"] = len(polysim.JunkKinds)
	r.Counts["ews_junk_refused_clearly"] = answered
	return nil
}

// badStatusRequests sends malformed and oversized requests to the status API.
func badStatusRequests(ctx context.Context, s *site, r *Result) {
	tok, _ := os.ReadFile(web.TokenPath(s.stateDir))
	token := strings.TrimSpace(string(tok))
	base := s.sim.File.Agent.StatusURL
	cases := []struct {
		name, method, path, ctype string
		body                      io.Reader
		want                      string
	}{
		{"oversized action", http.MethodPost, "/api/actions/rules-test", "application/json", io.MultiReader(strings.NewReader(`{"invite":"`), bytes.NewReader(bytes.Repeat([]byte("A"), 20<<20))), "too large"},
		{"malformed action", http.MethodPost, "/api/actions/reload", "application/json", strings.NewReader(`{"room": [1,2`), "not a valid"},
		{"unknown field", http.MethodPost, "/api/actions/sync", "application/json", strings.NewReader(`{"rooom": "x"}`), "unknown field"},
		{"wrong content type", http.MethodPost, "/api/actions/sync", "text/plain", strings.NewReader(`hello`), "application/json"},
		{"bad query", http.MethodGet, "/api/meetings?from=yesterday", "", nil, "RFC 3339"},
		{"bad events limit", http.MethodGet, "/api/events?n=1000000", "", nil, "n must be"},
	}
	clear := 0
	for _, c := range cases {
		req, err := http.NewRequestWithContext(ctx, c.method, base+c.path, c.body)
		if err != nil {
			r.failf("%s: %v", c.name, err)
			continue
		}
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		req.Header.Set(web.TokenHeader, token)
		resp, err := httpClient.Do(req)
		if err != nil {
			r.failf("status API %s: %v", c.name, err)
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if r.check(resp.StatusCode >= 400 && resp.StatusCode < 500 && strings.Contains(string(b), c.want),
			"status API %s: %s %s, want a 4xx saying %q", c.name, resp.Status, firstLines(b), c.want) {
			clear++
		}
	}
	r.Counts["status_api_bad_requests"] = len(cases)
	r.Counts["status_api_clear_errors"] = clear
}

// badFrames makes one codec send garbage frames before every reply while the agent pushes to
// it, then stops; the codec must end up with the right bookings (checked with the others).
func badFrames(ctx context.Context, s *site, r *Result) error {
	c := s.sim.File.Cisco[0]
	admin := s.sim.File.CiscoAdmin + "/codecs/" + pathEscape(c.Name)
	var before ciscosim.Stats
	if err := callJSON(ctx, http.MethodGet, admin+"/stats", nil, &before); err != nil {
		return err
	}
	if err := callJSON(ctx, http.MethodPost, admin+"/faults", map[string]any{"junk_frames": true}, nil); err != nil {
		return fmt.Errorf("set junk_frames: %w", err)
	}
	start := time.Now().Add(90 * time.Minute).Truncate(time.Minute)
	for i := range 3 {
		if _, err := s.graph().post(ctx, c.Room, event(fmt.Sprintf("pushed through junk %d", i), start.Add(time.Duration(i)*time.Hour), start.Add(time.Duration(i)*time.Hour+30*time.Minute))); err != nil {
			return err
		}
		_ = s.action(ctx, "sync", map[string]any{"room": c.Room})
		_ = s.action(ctx, "push", map[string]any{"endpoint": c.Name})
		time.Sleep(time.Second)
	}
	if err := callJSON(ctx, http.MethodPost, admin+"/faults", map[string]any{}, nil); err != nil {
		return fmt.Errorf("clear junk_frames: %w", err)
	}
	var after ciscosim.Stats
	if err := callJSON(ctx, http.MethodGet, admin+"/stats", nil, &after); err != nil {
		return err
	}
	r.Counts["jsonrpc_junk_frames"] = after.JunkFrames - before.JunkFrames
	r.Counts["codec_logins_during_junk"] = after.Handshakes.Attempts - before.Handshakes.Attempts
	r.check(after.JunkFrames > before.JunkFrames, "the codec sent no junk frames: the agent never asked it anything")
	r.check(s.alive(), "the agent exited on JSON-RPC junk; see %s", s.agent.Log)
	return nil
}
