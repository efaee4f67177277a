package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/simulators/harness"
)

// site is one scenario's world: otj-sim and the agent on its generated config.
type site struct {
	bins     harness.Bins
	dir      string
	sim      *harness.Sim
	agent    *harness.Agent
	cfgPath  string
	stateDir string
	starts   int
}

// siteOpts shape a site.
type siteOpts struct {
	rooms, meetings, cisco, poly int
	mqtt                         string // --mqtt: embedded, off or HOST:PORT
	// config edits the generated agent config (a YAML map) before the agent first starts.
	config func(cfg map[string]any)
	// beforeAgent runs once the simulators are up, before the agent first starts (to
	// subscribe to the broker before the first event, say).
	beforeAgent func(s *site) error
}

func startSite(ctx context.Context, bins harness.Bins, dir string, o siteOpts) (*site, error) {
	if o.mqtt == "" {
		o.mqtt = "off"
	}
	s := &site{bins: bins, dir: dir}
	sim, err := harness.StartSim(ctx, bins, dir, "--rooms", fmt.Sprint(o.rooms), "--meetings", fmt.Sprint(o.meetings),
		"--cisco", fmt.Sprint(o.cisco), "--poly", fmt.Sprint(o.poly), "--mqtt", o.mqtt, "--latency", "0s", "--clean")
	if err != nil {
		return nil, err
	}
	s.sim = sim
	s.cfgPath = sim.File.Agent.Config
	cfg, err := s.readConfig()
	if err != nil {
		s.close()
		return nil, err
	}
	s.stateDir, _ = cfg["state_dir"].(string)
	if o.config != nil {
		o.config(cfg)
		if err := s.writeConfig(cfg); err != nil {
			s.close()
			return nil, err
		}
	}
	if o.beforeAgent != nil {
		if err := o.beforeAgent(s); err != nil {
			s.close()
			return nil, err
		}
	}
	if err := s.startAgent(ctx); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *site) readConfig() (map[string]any, error) {
	b, err := os.ReadFile(s.cfgPath)
	if err != nil {
		return nil, err
	}
	cfg := map[string]any{}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("read %s: %w", s.cfgPath, err)
	}
	return cfg, nil
}

func (s *site) writeConfig(cfg map[string]any) error {
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(s.cfgPath, b, 0o600)
}

func (s *site) startAgent(ctx context.Context) error {
	s.starts++
	a, err := harness.StartAgent(ctx, s.bins, s.cfgPath, s.sim.File.Agent.StatusURL, filepath.Join(s.dir, "agent.log"))
	if err != nil {
		return err
	}
	s.agent = a
	return nil
}

// alive reports whether the agent is still running (it has not crashed).
func (s *site) alive() bool {
	if s.agent == nil {
		return false
	}
	done, _ := s.agent.Exited()
	return !done
}

func (s *site) close() {
	if s.agent != nil {
		_ = s.agent.Stop(15 * time.Second)
	}
	if s.sim != nil {
		_ = s.sim.Stop(10 * time.Second)
	}
}

// dbPath is the agent's store.
func (s *site) dbPath() string { return filepath.Join(s.stateDir, "otj-edge.db") }

// waitFor polls cond every interval until it holds or limit passes; it returns the last
// error cond gave (nil when it held).
func waitFor(ctx context.Context, limit, interval time.Duration, cond func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// waitSynced waits until the agent reports every room synced.
func (s *site) waitSynced(ctx context.Context, limit time.Duration) error {
	return waitFor(ctx, limit, 200*time.Millisecond, func() error {
		st, err := s.agent.Status(ctx)
		if err != nil {
			return err
		}
		if st.Calendar.Rooms == 0 || st.Calendar.Synced < st.Calendar.Rooms {
			return fmt.Errorf("%d of %d rooms synced", st.Calendar.Synced, st.Calendar.Rooms)
		}
		return nil
	})
}

// runtime reads GET /api/runtime.
func (s *site) runtime(ctx context.Context) (web.Runtime, error) {
	var rt web.Runtime
	err := harness.GetJSON(ctx, s.sim.File.Agent.StatusURL+"/api/runtime", &rt)
	return rt, err
}

// action runs a control action with this start's token.
func (s *site) action(ctx context.Context, name string, body any) error {
	tok, err := os.ReadFile(web.TokenPath(s.stateDir))
	if err != nil {
		return fmt.Errorf("read the action token: %w", err)
	}
	_, err = call(ctx, http.MethodPost, s.sim.File.Agent.StatusURL+"/api/actions/"+name, body, web.TokenHeader, strings.TrimSpace(string(tok)))
	return err
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// call sends a JSON request (body nil: none) with optional header pairs and returns the
// answer's body; a status of 300 or more is an error carrying it.
func call(ctx context.Context, method, u string, body any, header ...string) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return out, fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, bytes.TrimSpace(out))
	}
	return out, nil
}

func callJSON(ctx context.Context, method, u string, body, out any) error {
	b, err := call(ctx, method, u, body)
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func pathEscape(s string) string { return url.PathEscape(s) }
