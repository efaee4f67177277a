package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/simulators/mosquitto"
	"github.com/otj-edge/otj-edge/simulators/sim"
)

// TestPrometheusScrapesTheAgent runs a real Prometheus (Debian's prometheus package) against a
// running agent on the simulators: it scrapes /metrics with basic_auth every second, and the
// series it stores are the agent's (target up, every room counted, every endpoint counted).
func TestPrometheusScrapesTheAgent(t *testing.T) {
	bin := prometheusBinary(t)
	e := newE2E(t)
	// A status page with credentials: the way a central Prometheus on another machine logs in.
	e.cfg.Status.Username = "prometheus"
	e.cfg.Status.Password = config.NewSecret("scrape-password-4711")
	e.start()

	prom := startPrometheus(t, bin, e.cfg.Status.Listen, "prometheus", "scrape-password-4711")
	rooms, endpoints := len(e.f.Graph.Rooms), len(e.f.Cisco)+len(e.f.Poly)
	prom.waitFor(t, `up{job="otj-edge"}`, "1")
	prom.waitFor(t, `sum(otj_source_rooms{job="otj-edge",type="graph"})`, fmt.Sprint(rooms))
	prom.waitFor(t, `sum(otj_source_rooms{job="otj-edge",status="ok"})`, fmt.Sprint(rooms))
	prom.waitFor(t, `sum(otj_endpoints{job="otj-edge"})`, fmt.Sprint(endpoints))
	prom.waitFor(t, `count(otj_build_info{job="otj-edge",version="`+Version+`"})`, "1")
	prom.waitFor(t, `otj_mqtt_connected{job="otj-edge"}`, "1")
	prom.waitFor(t, `sum(up{job=~"otj-edge",instance=~".+"})`, "1") // the dashboard's "Sites up"

	// Every query of the Grafana dashboard is one this Prometheus accepts and answers with
	// series, with the dashboard's variables set to "All".
	for _, q := range dashboardQueries(t) {
		q = strings.NewReplacer("$job", ".+", "$instance", ".+").Replace(q)
		prom.waitSeries(t, q)
	}
	assertNoSecrets(t, e.cfg, "agent logs", e.logs.String())
}

// dashboardQueries are the PromQL queries of packaging/grafana/otj-edge.json's panels.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "packaging", "grafana", "otj-edge.json"))
	require.NoError(t, err)
	var d struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &d))
	var out []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	require.NotEmpty(t, out)
	return out
}

// prometheusBinary finds prometheus; under CI a missing one fails the test.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	if mosquitto.InCI() {
		t.Fatal("prometheus is not installed: apt-get install prometheus (.ci/run installs it)")
	}
	t.Skip("prometheus is not installed (apt-get install prometheus); CI runs this test")
	return ""
}

type promServer struct{ url string }

// startPrometheus runs prometheus on a free loopback port, scraping target's /metrics every
// second as job otj-edge with basic_auth, until the test ends.
func startPrometheus(t *testing.T, bin, target, user, password string) *promServer {
	t.Helper()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	require.NoError(t, os.WriteFile(pwFile, []byte(password), 0o600))
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: otj-edge
    metrics_path: /metrics
    basic_auth:
      username: %q
      password_file: %q
    static_configs:
      - targets: [%q]
`, user, pwFile, target)
	confFile := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(confFile, []byte(conf), 0o600))
	var lastErr error
	for range 3 { // a port picked free can be taken before prometheus binds it
		addr, err := sim.FreeAddr()
		require.NoError(t, err)
		logs := &syncBuffer{}
		cmd := exec.Command(bin, "--config.file="+confFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
			"--web.listen-address="+addr, "--log.level=warn")
		cmd.Stdout, cmd.Stderr = logs, logs
		require.NoError(t, cmd.Start())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		p := &promServer{url: "http://" + addr}
		if err := p.waitReady(exited); err != nil {
			lastErr = fmt.Errorf("%w\n%s", err, logs)
			cmd.Process.Kill()
			continue
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
		return p
	}
	t.Fatalf("prometheus did not start: %v", lastErr)
	return nil
}

// waitReady polls /-/ready until prometheus answers, exits, or 30 s pass.
func (p *promServer) waitReady(exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("prometheus exited: %v", err)
		case <-tick.C:
		}
	}
	return fmt.Errorf("prometheus at %s not ready after 30 s", p.url)
}

// waitFor polls the query API until query's one sample has the value want, for at most a minute.
func (p *promServer) waitFor(t *testing.T, query, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		got, err := p.query(ctx, query)
		if err == nil && got == want {
			return
		}
		last = fmt.Sprintf("value %q, err %v", got, err)
		select {
		case <-ctx.Done():
			t.Fatalf("prometheus: %s never became %s (last: %s)", query, want, last)
		case <-tick.C:
		}
	}
}

// query runs an instant query and returns its one sample's value ("" when there is none).
func (p *promServer) query(ctx context.Context, q string) (string, error) {
	res, err := p.instant(ctx, q)
	if err != nil {
		return "", err
	}
	switch len(res) {
	case 0:
		return "", nil
	case 1:
		return strings.TrimSpace(fmt.Sprint(res[0].Value[1])), nil
	}
	return "", fmt.Errorf("query %s: %d samples, want one", q, len(res))
}

// waitSeries polls until query answers with at least one series (a rate needs two scrapes),
// for at most a minute; a query Prometheus refuses fails at once.
func (p *promServer) waitSeries(t *testing.T, query string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		res, err := p.instant(ctx, query)
		var refused *queryError
		require.False(t, errors.As(err, &refused), "prometheus refuses the dashboard's query: %v", err)
		if err == nil && len(res) > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the dashboard's query %s has no series on a running agent (last error: %v)", query, err)
		case <-tick.C:
		}
	}
}

// queryError is Prometheus refusing a query (a syntax error, an unknown function).
type queryError struct{ msg string }

func (e *queryError) Error() string { return e.msg }

type sample struct {
	Value [2]any `json:"value"`
}

// instant runs an instant query through the HTTP API.
func (p *promServer) instant(ctx context.Context, q string) ([]sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []sample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	if out.Status != "success" {
		return nil, &queryError{fmt.Sprintf("query %s: %s", q, out.Error)}
	}
	return out.Data.Result, nil
}
