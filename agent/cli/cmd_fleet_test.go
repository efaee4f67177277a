package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/telemetry"
	"github.com/otj-edge/otj-edge/simulators/mosquitto"
	"github.com/otj-edge/otj-edge/simulators/simtls"
	"github.com/otj-edge/otj-edge/store"
)

const fleetWait = 20 * time.Second

// fleetSiteRun is a site's telemetry running against the test broker.
type fleetSiteRun struct {
	health *health.Tracker
	stop   func()
}

func runSite(t *testing.T, site, version string, m config.MQTT, counts [2]int) fleetSiteRun {
	t.Helper()
	s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "otj-edge.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	tr := health.New(nil)
	tel, err := telemetry.New(telemetry.Options{Site: site, Version: version, MQTT: m, Store: s, Health: tr,
		Counts: func() (int, int) { return counts[0], counts[1] },
		Sources: func() []telemetry.StatusSource {
			return []telemetry.StatusSource{{Type: "graph", Name: "m365", Rooms: counts[0]}}
		},
		Timing: telemetry.Timing{ReconnectMin: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond, StatusMinInterval: 10 * time.Millisecond}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, tel.Run(ctx))
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return fleetSiteRun{health: tr, stop: stop}
}

// awaitStatus waits until the broker holds a status of site that satisfies ok.
func awaitStatus(t *testing.T, broker string, site string, ok func(telemetry.Status) bool) {
	t.Helper()
	got := make(chan telemetry.Status, 100)
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("await-" + randomHex(4)).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			var st telemetry.Status
			if json.Unmarshal(m.Payload(), &st) == nil {
				got <- st
			}
		}))
	require.True(t, c.Connect().WaitTimeout(fleetWait))
	defer c.Disconnect(50)
	require.True(t, c.Subscribe(telemetry.SiteTopic(site, telemetry.TopicStatus), 1, nil).WaitTimeout(fleetWait))
	timer := time.NewTimer(fleetWait)
	defer timer.Stop()
	for {
		select {
		case st := <-got:
			if ok(st) {
				return
			}
		case <-timer.C:
			t.Fatalf("no status of %s as expected", site)
		}
	}
}

func publishRetained(t *testing.T, broker, topic, payload string) {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("pub-" + randomHex(4)))
	require.True(t, c.Connect().WaitTimeout(fleetWait))
	defer c.Disconnect(50)
	tok := c.Publish(topic, 1, true, payload)
	require.True(t, tok.WaitTimeout(fleetWait))
	require.NoError(t, tok.Error())
}

func TestFleetShowsEverySiteFromTheRetainedStatus(t *testing.T) {
	b := mosquitto.ForTest(t, mosquitto.Options{})
	m := config.MQTT{Broker: b.URL()}
	oslo := runSite(t, "oslo-hq", "2.0.0", m, [2]int{12, 14})
	oslo.health.Fail("cisco/codec-7", "wrong username or password")
	oslo.health.Warn("graph/m365", "throttled")
	awaitStatus(t, b.URL(), "oslo-hq", func(st telemetry.Status) bool {
		return st.State == telemetry.StateOnline && st.Health != nil && st.Health.ProblemsTotal == 2
	})
	bergen := runSite(t, "bergen", "1.9.0", m, [2]int{3, 4})
	awaitStatus(t, b.URL(), "bergen", func(st telemetry.Status) bool { return st.State == telemetry.StateOnline })
	bergen.stop()
	publishRetained(t, b.URL(), "otj/v1/trondheim/status", "garbage")

	code, stdout, stderr := runCLI(t, nil, "fleet", "--broker", b.URL())
	require.Equal(t, ExitOK, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 5, stdout)
	assert.Regexp(t, `^SITE\s+STATE\s+VERSION\s+ROOMS\s+ENDPOINTS\s+SOURCES\s+SINCE\s+PROBLEMS$`, lines[0])
	assert.Regexp(t, `^bergen\s+offline \(shutdown\)\s+1\.9\.0\s+-\s+-\s+-\s+\d+s ago\s+-$`, lines[1])
	assert.Regexp(t, `^oslo-hq\s+online\s+2\.0\.0\s+12\s+14\s+graph/m365\s+\d+s ago\s+cisco/codec-7: wrong username or password; graph/m365: throttled$`, lines[2])
	assert.Regexp(t, `^trondheim\s+invalid\s+.*not an otj-edge status`, lines[3])
	assert.Equal(t, "3 sites: 1 online, 2 offline, 2 with problems", lines[4])

	code, stdout, stderr = runCLI(t, nil, "fleet", "--broker", b.URL(), "--json")
	require.Equal(t, ExitOK, code, stderr)
	var sites []struct {
		Site   string            `json:"site"`
		Status *telemetry.Status `json:"status"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &sites))
	require.Len(t, sites, 3)
	assert.Equal(t, "oslo-hq", sites[1].Site)
	assert.Equal(t, 14, *sites[1].Status.Endpoints)
	assert.Equal(t, []telemetry.StatusSource{{Type: "graph", Name: "m365", Rooms: 12}}, sites[1].Status.Sources)
}

// TestFleetReadsSitesNotYetUpgraded: during an upgrade some sites still publish the status of
// an agent from before calendar sources were listed (no "sources"). They show as they did, with
// "-" for their sources, beside upgraded sites.
func TestFleetReadsSitesNotYetUpgraded(t *testing.T) {
	b := mosquitto.ForTest(t, mosquitto.Options{})
	runSite(t, "oslo-hq", "2.0.0", config.MQTT{Broker: b.URL()}, [2]int{12, 14})
	awaitStatus(t, b.URL(), "oslo-hq", func(st telemetry.Status) bool { return st.State == telemetry.StateOnline })
	// The retained status an agent at b129881 publishes (README, "Fleet telemetry").
	publishRetained(t, b.URL(), "otj/v1/stavanger/status", `{"state": "online", "site": "stavanger", "version": "1.3.2",
		"host": "otj-stavanger-01", "client_id": "otj-edge-stavanger-3f9a1c2b7d4e", "started_at": "2026-11-23T06:00:02Z",
		"connected_at": "2026-11-23T06:00:03Z", "rooms": 42, "endpoints": 47,
		"health": {"overall": "warning", "ok": 51, "problems_total": 1,
		           "problems": [{"component": "graph/m365", "level": "warning", "message": "throttled", "since": "2026-11-23T07:12:40Z"}]},
		"updated_at": "2026-11-23T07:12:41Z"}`)

	code, stdout, stderr := runCLI(t, nil, "fleet", "--broker", b.URL())
	require.Equal(t, ExitOK, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 4, stdout)
	assert.Regexp(t, `^oslo-hq\s+online\s+2\.0\.0\s+12\s+14\s+graph/m365\s+\d+s ago\s+-$`, lines[1])
	assert.Regexp(t, `^stavanger\s+online\s+1\.3\.2\s+42\s+47\s+-\s+\S+.*\s+graph/m365: throttled$`, lines[2])
	assert.Equal(t, "2 sites: 2 online, 0 offline, 1 with problems", lines[3])
}

func TestDescribeSources(t *testing.T) {
	src := func(names ...string) []telemetry.StatusSource {
		out := []telemetry.StatusSource{}
		for _, n := range names {
			out = append(out, telemetry.StatusSource{Type: "graph", Name: n})
		}
		return out
	}
	assert.Equal(t, "-", describeSources(nil), "an offline status, or an agent from before sources")
	assert.Equal(t, "none", describeSources(src()))
	assert.Equal(t, "graph/m365, graph/annex", describeSources(src("m365", "annex")))
	assert.Equal(t, "graph/a, graph/b, graph/c (and 2 more)", describeSources(src("a", "b", "c", "d", "e")))
}

func TestFleetOverTLSAndAWrongCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := simtls.NewCA("fleet test CA")
	require.NoError(t, err)
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, ca.WriteFile(caFile))
	srv, err := ca.Issue("127.0.0.1")
	require.NoError(t, err)
	require.NoError(t, simtls.WritePair(srv, filepath.Join(dir, "b.pem"), filepath.Join(dir, "b.key")))
	b := mosquitto.ForTest(t, mosquitto.Options{TLS: &mosquitto.TLS{CertFile: filepath.Join(dir, "b.pem"), KeyFile: filepath.Join(dir, "b.key")}})
	runSite(t, "oslo-hq", "2.0.0", config.MQTT{Broker: b.TLSURL(), CAFile: caFile}, [2]int{1, 1})
	awaitStatus(t, b.URL(), "oslo-hq", func(st telemetry.Status) bool { return st.State == telemetry.StateOnline })

	code, stdout, stderr := runCLI(t, nil, "fleet", "--broker", b.TLSURL(), "--ca-file", caFile)
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `(?m)^oslo-hq\s+online\s+2\.0\.0`, stdout)

	other, err := simtls.NewCA("not the broker's CA")
	require.NoError(t, err)
	wrong := filepath.Join(dir, "wrong.pem")
	require.NoError(t, other.WriteFile(wrong))
	code, stdout, stderr = runCLI(t, nil, "fleet", "--broker", b.TLSURL(), "--ca-file", wrong)
	assert.Equal(t, ExitFailure, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "otj-edge fleet: cannot connect to "+b.TLSURL()+": the broker's TLS certificate is not signed by the CA in --ca-file "+wrong)
}

func TestFleetWatchFollowsChanges(t *testing.T) {
	b := mosquitto.ForTest(t, mosquitto.Options{})
	oslo := runSite(t, "oslo-hq", "2.0.0", config.MQTT{Broker: b.URL()}, [2]int{2, 2})
	awaitStatus(t, b.URL(), "oslo-hq", func(st telemetry.Status) bool { return st.State == telemetry.StateOnline })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- Main(ctx, []string{"fleet", "--broker", b.URL(), "--watch"}, IO{Stdout: &out, Stderr: &errb})
	}()
	waitOutput := func(re string) {
		t.Helper()
		rx := regexp.MustCompile(re)
		require.Eventually(t, func() bool { return rx.MatchString(out.String()) }, fleetWait, 10*time.Millisecond,
			"output never matched %s:\n%s%s", re, out.String(), errb.String())
	}
	waitOutput(`(?m)^oslo-hq\s+online\s+2\.0\.0\s+2\s+2\s+graph/m365\s+\S+ ago\s+-$`)

	oslo.health.Fail("poly/lobby", "not polling for 15m")
	waitOutput(`(?s)-- \d{4}-\d\d-\d\d \d\d:\d\d:\d\d --\n.*oslo-hq\s+online.*poly/lobby: not polling for 15m`)
	oslo.stop()
	waitOutput(`(?m)^oslo-hq\s+offline \(shutdown\)`)

	cancel()
	select {
	case c := <-code:
		assert.Equal(t, ExitOK, c, errb.String())
	case <-time.After(fleetWait):
		t.Fatal("fleet --watch did not end when interrupted")
	}
}

func TestFleetUsageErrors(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "fleet")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "--broker is required")
	code, _, stderr = runCLI(t, nil, "fleet", "--broker", "tcp://127.0.0.1:1", "--password", "x", "--password-file", "/dev/null")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "give --password or --password-file, not both")
	code, _, stderr = runCLI(t, nil, "fleet", "--broker", "127.0.0.1:1883")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "is not a URL such as ssl://broker:8883")
	code, _, stderr = runCLI(t, nil, "fleet", "--broker", "tcp://127.0.0.1:1", "--timeout", "2s")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "cannot connect to tcp://127.0.0.1:1: nothing accepts connections there")
}
