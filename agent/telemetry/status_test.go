package telemetry

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/simulators/mosquitto"
	"github.com/otj-edge/otj-edge/store"
)

// childEnv makes the test binary run as an agent process (TestMain) instead of the tests.
const childEnv = "OTJ_TELEMETRY_CHILD"

type childConfig struct {
	Broker string `json:"broker"`
	DB     string `json:"db"`
	Site   string `json:"site"`
}

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(runChild(cfg))
	}
	os.Exit(m.Run())
}

// runChild is the agent process the kill -9 tests start: telemetry on a store, until killed.
func runChild(cfgJSON string) int {
	var c childConfig
	if err := json.Unmarshal([]byte(cfgJSON), &c); err != nil {
		fmt.Fprintln(os.Stderr, "child config:", err)
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	s, err := store.Open(ctx, c.DB, store.Options{Outbox: store.OutboxLimits{MaxMessages: 100000, MaxBytes: 64 << 20}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child store:", err)
		return 1
	}
	defer s.Close()
	tr := health.New(nil)
	tr.Warn("graph/m365", "throttled by Microsoft Graph")
	tel, err := New(Options{Site: c.Site, Version: "9.9.9-child", MQTT: mqttConfig(c.Broker), Store: s, Health: tr, Timing: fastTiming})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child telemetry:", err)
		return 1
	}
	fmt.Println("child running", os.Getpid())
	if err := tel.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "child run:", err)
		return 1
	}
	return 0
}

// startChild starts an agent process and returns it once it runs.
func startChild(t *testing.T, c childConfig) *exec.Cmd {
	t.Helper()
	b, err := json.Marshal(c)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "the agent process did not start")
	require.Contains(t, line, "child running")
	return cmd
}

func TestLateSubscriberSeesRetainedOnlineStatusAndRetainedOfflineAfterKill9(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	site := "bergen"
	early := watch(t, b.URL(), SiteTopic(site, TopicStatus))
	child := startChild(t, childConfig{Broker: b.URL(), DB: filepath.Join(t.TempDir(), "otj-edge.db"), Site: site})

	early.status(site, StateOnline, false) // published by the agent process

	late := watch(t, b.URL(), SiteTopic(site, TopicStatus))
	st := late.status(site, StateOnline, true)
	assert.Equal(t, "9.9.9-child", st.Version)
	assert.Equal(t, site, st.Site)
	assert.Regexp(t, `^otj-edge-bergen-[0-9a-f]{12}$`, st.ClientID, "default client id: otj-edge-<site>-<box id>")
	assert.False(t, st.StartedAt.IsZero())
	require.NotNil(t, st.ConnectedAt)
	require.NotNil(t, st.Health)
	assert.Equal(t, health.Warning, st.Health.Overall)
	require.NotEmpty(t, st.Health.Problems)
	assert.Equal(t, "graph/m365", st.Health.Problems[0].Component)
	require.NotNil(t, st.Rooms)

	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()

	will := early.status(site, StateOffline, false) // the broker publishes the will
	assert.Equal(t, "connection lost", will.Reason)
	assert.Equal(t, "9.9.9-child", will.Version)
	assert.Equal(t, st.ClientID, will.ClientID)
	later := watch(t, b.URL(), SiteTopic(site, TopicStatus))
	assert.Equal(t, "connection lost", later.status(site, StateOffline, true).Reason, "the will is retained")
}

func TestCleanShutdownPublishesRetainedOfflineAndTheBoxIDIsStable(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	s := openStore(t, "", 1000)
	w := watch(t, b.URL(), SiteTopic("oslo-hq", TopicStatus))
	tel := runTelemetry(t, Options{Store: s, MQTT: mqttConfig(b.URL())})
	online := w.status("oslo-hq", StateOnline, false)
	assert.True(t, tel.Connected())
	assert.Equal(t, health.OK, mqttHealth(tel.health).Level)

	tel.stop()
	off := w.status("oslo-hq", StateOffline, false)
	assert.Equal(t, "shutdown", off.Reason)
	require.NotNil(t, off.StoppedAt)
	assert.False(t, tel.Connected())
	late := watch(t, b.URL(), SiteTopic("oslo-hq", TopicStatus))
	assert.Equal(t, "shutdown", late.status("oslo-hq", StateOffline, true).Reason)

	again := runTelemetry(t, Options{Store: s, MQTT: mqttConfig(b.URL())})
	w2 := watch(t, b.URL(), SiteTopic("oslo-hq", TopicStatus))
	assert.Equal(t, online.ClientID, w2.anyStatus("oslo-hq", StateOnline).ClientID, "the client id survives a restart")
	again.stop()

	cfg := mqttConfig(b.URL())
	cfg.ClientID = "central-chose-this"
	runTelemetry(t, Options{Store: s, MQTT: cfg})
	w3 := watch(t, b.URL(), SiteTopic("oslo-hq", TopicStatus))
	assert.Equal(t, "central-chose-this", w3.anyStatus("oslo-hq", StateOnline).ClientID)
}

func TestStartupNeverWaitsForTheBrokerAndReconnects(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	require.NoError(t, b.Stop())
	s := openStore(t, "", 1000)
	tel := runTelemetry(t, Options{Store: s, MQTT: mqttConfig(b.URL())})
	// Run is running without a broker; health says why.
	require.Eventually(t, func() bool {
		it := mqttHealth(tel.health)
		return it.Level == health.Warning && strings.Contains(it.Message, "connection refused")
	}, wait, 10*time.Millisecond)
	assert.False(t, tel.Connected())

	require.NoError(t, b.Start(t.Context()))
	w := watch(t, b.URL(), SiteTopic("oslo-hq", TopicStatus))
	w.anyStatus("oslo-hq", StateOnline)
	assert.True(t, tel.Connected())

	// The broker goes away and comes back: telemetry follows.
	require.NoError(t, b.Stop())
	require.Eventually(t, func() bool { return !tel.Connected() }, wait, 10*time.Millisecond)
	require.NoError(t, b.Start(t.Context()))
	w2 := watch(t, b.URL(), SiteTopic("oslo-hq", TopicStatus))
	st := w2.anyStatus("oslo-hq", StateOnline) // republished on reconnect (the broker kept nothing)
	assert.Equal(t, StateOnline, st.State)
}

func TestStatusFollowsHealthChanges(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	s := openStore(t, "", 1000)
	w := watch(t, b.URL(), SiteTopic("oslo-hq", TopicStatus))
	tel := runTelemetry(t, Options{Store: s, MQTT: mqttConfig(b.URL()), Counts: func() (int, int) { return 12, 14 }})
	st := w.status("oslo-hq", StateOnline, false)
	assert.Equal(t, health.OK, st.Health.Overall)
	assert.Equal(t, 12, *st.Rooms)
	assert.Equal(t, 14, *st.Endpoints)

	tel.health.Fail("cisco/codec-7", "wrong username or password")
	w.next("a status listing the failed codec", func(m paho.Message) bool {
		var st Status
		if json.Unmarshal(m.Payload(), &st) != nil || st.Health == nil {
			return false
		}
		return st.Health.Overall == health.Error && st.Health.ProblemsTotal == 1 &&
			st.Health.Problems[0].Component == "cisco/codec-7" && st.Health.Problems[0].Message == "wrong username or password"
	})
}

func TestHealthSummaryBoundsProblems(t *testing.T) {
	tr := health.New(func() time.Time { return time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC) })
	tr.OK("store", "")
	for i := range MaxProblems + 10 {
		tr.Warn(fmt.Sprintf("poly/p-%03d", i), "not polling")
	}
	tr.Fail("graph/m365", "token refused")
	h := summarize(tr.Snapshot())
	assert.Equal(t, health.Error, h.Overall)
	assert.Equal(t, 1, h.OK)
	assert.Equal(t, MaxProblems+11, h.ProblemsTotal)
	assert.Len(t, h.Problems, MaxProblems)
	assert.Equal(t, "graph/m365", h.Problems[0].Component, "worst first")
}

// TestRunLeavesNoGoroutinesBehind: every goroutine telemetry or its MQTT clients start ends
// when Run returns, including a reconnect after the broker went away.
func TestRunLeavesNoGoroutinesBehind(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	s := openStore(t, "", 1000)
	w := watch(t, b.URL(), SiteTopic("oslo-hq", TopicStatus), SiteTopic("oslo-hq", TopicCmdResult))
	before := runtime.NumGoroutine()

	tel := runTelemetry(t, Options{Store: s, MQTT: mqttConfig(b.URL())})
	w.anyStatus("oslo-hq", StateOnline)
	require.NoError(t, b.Stop())
	require.Eventually(t, func() bool { return !tel.Connected() }, wait, 5*time.Millisecond)
	require.NoError(t, b.Start(t.Context()))
	require.Eventually(t, tel.Connected, wait, 5*time.Millisecond)
	tel.stop()

	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before }, wait, 10*time.Millisecond,
		"goroutines before: %d, after: %d", before, runtime.NumGoroutine())
}
