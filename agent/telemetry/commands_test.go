package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/mosquitto"
)

// siteCommands is the agent side of the command interface for the tests: it records each call
// and answers with what it was asked. block, when set, holds every call until it is closed.
type siteCommands struct {
	mu      sync.Mutex
	calls   []string
	block   chan struct{}
	started chan string
}

func (c *siteCommands) record(ctx context.Context, call string) error {
	c.mu.Lock()
	c.calls = append(c.calls, call)
	c.mu.Unlock()
	if c.started != nil {
		c.started <- call
	}
	if c.block != nil {
		select {
		case <-c.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (c *siteCommands) Sync(ctx context.Context, room string, full bool) (any, error) {
	if err := c.record(ctx, fmt.Sprintf("sync %q full=%v", room, full)); err != nil {
		return nil, err
	}
	if room == "missing@example.com" {
		return nil, errors.New(`room "missing@example.com" is not configured`)
	}
	return map[string]any{"rooms": 1, "full": full}, nil
}

func (c *siteCommands) Push(ctx context.Context, endpoint string) (any, error) {
	return map[string]any{"pushed": []string{endpoint}}, c.record(ctx, fmt.Sprintf("push %q", endpoint))
}

func (c *siteCommands) Reload(ctx context.Context) (any, error) {
	return map[string]any{"changed": []string{"endpoints"}}, c.record(ctx, "reload")
}

func (c *siteCommands) RulesTest(ctx context.Context, event json.RawMessage, profile string) (any, error) {
	var ev struct {
		Subject string `json:"subject"`
	}
	if err := json.Unmarshal(event, &ev); err != nil {
		return nil, err
	}
	return map[string]any{"join": true, "subject": ev.Subject, "rule": "teams"}, c.record(ctx, fmt.Sprintf("rules-test %q %q", ev.Subject, profile))
}

func (c *siteCommands) Status(ctx context.Context) (any, error) {
	return map[string]any{"state": "running"}, c.record(ctx, "status")
}

func (c *siteCommands) Calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

// result waits for the result with the given request id.
func (w *watcher) result(id string) Result {
	w.t.Helper()
	var r Result
	w.next("the result of "+id, func(m paho.Message) bool {
		r = Result{}
		return m.Topic() == SiteTopic("oslo-hq", TopicCmdResult) && json.Unmarshal(m.Payload(), &r) == nil && r.ID == id
	})
	return r
}

func TestEachCommandRoundTrips(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	cmds := &siteCommands{}
	central := watch(t, b.URL(), SiteTopic("oslo-hq", TopicCmdResult), SiteTopic("oslo-hq", TopicStatus))
	runTelemetry(t, Options{Store: openStore(t, "", 1000), MQTT: mqttConfig(b.URL()), Commands: cmds})
	central.anyStatus("oslo-hq", StateOnline) // subscribed by now

	cases := []struct {
		name, payload string
		call          string
		result        string
	}{
		{CmdSync, `{"id":"c1","room":"room-01@example.com","full":true}`, `sync "room-01@example.com" full=true`, `{"rooms":1,"full":true}`},
		{CmdSync, `{"id":"c2"}`, `sync "" full=false`, `{"rooms":1,"full":false}`},
		{CmdPush, `{"id":"c3","endpoint":"codec-1"}`, `push "codec-1"`, `{"pushed":["codec-1"]}`},
		{CmdReload, `{"id":"c4"}`, `reload`, `{"changed":["endpoints"]}`},
		{CmdRulesTest, `{"id":"c5","event":{"subject":"Weekly","body":{"content":"teams"}},"profile":"gcc"}`, `rules-test "Weekly" "gcc"`,
			`{"join":true,"subject":"Weekly","rule":"teams"}`},
		{CmdStatus, `{"id":"c6"}`, `status`, `{"state":"running"}`},
	}
	for _, c := range cases {
		var req map[string]any
		require.NoError(t, json.Unmarshal([]byte(c.payload), &req))
		id := req["id"].(string)
		central.publish(SiteTopic("oslo-hq", TopicCmd+"/"+c.name), c.payload)
		r := central.result(id)
		assert.Equal(t, c.name, r.Command, c.payload)
		assert.True(t, r.OK, c.payload, r.Error)
		assert.Empty(t, r.Error, c.payload)
		assert.JSONEq(t, c.result, string(r.Result), c.payload)
		assert.Equal(t, "oslo-hq", r.Site)
		assert.Contains(t, cmds.Calls(), c.call)
	}

	// A handler's error is the result's error.
	central.publish(SiteTopic("oslo-hq", "cmd/sync"), `{"id":"c7","room":"missing@example.com"}`)
	r := central.result("c7")
	assert.False(t, r.OK)
	assert.Equal(t, `room "missing@example.com" is not configured`, r.Error)
	assert.Empty(t, r.Result)

	// The same request id again (QoS 1 redelivery, a retry) is answered, not run again.
	before := len(cmds.Calls())
	central.publish(SiteTopic("oslo-hq", "cmd/reload"), `{"id":"c4"}`)
	r = central.result("c4")
	assert.True(t, r.OK)
	assert.JSONEq(t, `{"changed":["endpoints"]}`, string(r.Result))
	assert.Len(t, cmds.Calls(), before, "a repeated request id does not run twice")
}

func TestMalformedAndUnknownCommandsGetErrorResults(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	cmds := &siteCommands{}
	central := watch(t, b.URL(), SiteTopic("oslo-hq", TopicCmdResult), SiteTopic("oslo-hq", TopicStatus))
	runTelemetry(t, Options{Store: openStore(t, "", 1000), MQTT: mqttConfig(b.URL()), Commands: cmds})
	central.anyStatus("oslo-hq", StateOnline)

	cases := []struct {
		name, payload, id, err string
	}{
		{"sync", `{"id":"m1","room":"r@x","rom":"typo"}`, "m1", `unknown argument "rom" for sync (it takes: id, room, full)`},
		{"sync", `{"id":"m2","full":"yes"}`, "m2", `"full" must be true or false`},
		{"push", `{"id":"m3","endpoint":7}`, "m3", `"endpoint" must be a string`},
		{"rules-test", `{"id":"m4"}`, "m4", `rules-test needs "event": a Microsoft Graph event as JSON`},
		{"rules-test", `{"id":"m5","event":"subject: hi"}`, "m5", `"event" must be a JSON object (a Microsoft Graph event)`},
		{"reboot", `{"id":"m6"}`, "m6", `unknown command "reboot" (known: push, reload, rules-test, status, sync)`},
		{"status", `{"id":""}`, "", `"id" is empty`},
		{"status", `{"id":42}`, "", `"id" must be a string`},
		{"status", `{}`, "", `the request has no "id"`},
		{"status", `not json at all`, "", `the request is not a JSON object (want {"id": "...", ...})`},
	}
	for _, c := range cases {
		central.publish(SiteTopic("oslo-hq", TopicCmd+"/"+c.name), c.payload)
		var r Result
		central.next(fmt.Sprintf("the error result for %s %s", c.name, c.payload), func(m paho.Message) bool {
			r = Result{}
			return m.Topic() == SiteTopic("oslo-hq", TopicCmdResult) && json.Unmarshal(m.Payload(), &r) == nil && r.Error == c.err
		})
		assert.Equal(t, c.id, r.ID, c.payload)
		assert.Equal(t, c.name, r.Command, c.payload)
		assert.False(t, r.OK, c.payload)
	}
	assert.Empty(t, cmds.Calls(), "no malformed command reaches the agent")
}

// TestCommandsNeverBlockTheClient: while every worker is busy with a command that does not
// return, the link stays up, further commands wait in a bounded queue and those past it are
// answered "busy" at once; released, the queued ones run.
func TestCommandsNeverBlockTheClient(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	cmds := &siteCommands{block: make(chan struct{}), started: make(chan string, 100)}
	central := watch(t, b.URL(), SiteTopic("oslo-hq", TopicCmdResult), SiteTopic("oslo-hq", TopicStatus))
	tel := runTelemetry(t, Options{Store: openStore(t, "", 1000), MQTT: mqttConfig(b.URL()), Commands: cmds})
	central.anyStatus("oslo-hq", StateOnline)

	for i := range commandWorkers {
		central.publish(SiteTopic("oslo-hq", "cmd/status"), fmt.Sprintf(`{"id":"hold-%d"}`, i))
	}
	for range commandWorkers {
		<-cmds.started // every worker is now stuck in a handler
	}
	// One more than the queue holds. Handlers run concurrently (SetOrderMatters(false)), so
	// which one finds the queue full is not fixed: exactly one is answered "busy", at once.
	for i := range commandQueueSize + 1 {
		central.publish(SiteTopic("oslo-hq", "cmd/status"), fmt.Sprintf(`{"id":"queued-%d"}`, i))
	}
	var busy Result
	central.next("a busy answer", func(m paho.Message) bool {
		busy = Result{}
		return m.Topic() == SiteTopic("oslo-hq", TopicCmdResult) && json.Unmarshal(m.Payload(), &busy) == nil
	})
	assert.False(t, busy.OK)
	assert.Equal(t, fmt.Sprintf("busy: %d commands are already waiting; try again later", commandQueueSize), busy.Error)
	assert.True(t, tel.Connected(), "the client is still connected")

	// The link still works both ways while the handlers hang.
	tel.health.Warn("graph/m365", "throttled")
	central.next("a status update while handlers are blocked", func(m paho.Message) bool {
		var st Status
		return json.Unmarshal(m.Payload(), &st) == nil && st.Health != nil && st.Health.ProblemsTotal == 1
	})

	close(cmds.block)
	done := map[string]bool{busy.ID: true}
	for len(done) < commandQueueSize+1+commandWorkers {
		central.next("the results of the held and queued commands", func(m paho.Message) bool {
			var r Result
			if m.Topic() != SiteTopic("oslo-hq", TopicCmdResult) || json.Unmarshal(m.Payload(), &r) != nil {
				return false
			}
			assert.True(t, r.OK, r.ID, r.Error)
			assert.False(t, done[r.ID], "one result per command: %s", r.ID)
			done[r.ID] = true
			return true
		})
	}
}

func TestWithoutCommandsOnlyStatusAnswers(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	central := watch(t, b.URL(), SiteTopic("oslo-hq", TopicCmdResult), SiteTopic("oslo-hq", TopicStatus))
	runTelemetry(t, Options{Store: openStore(t, "", 1000), MQTT: mqttConfig(b.URL())})
	central.anyStatus("oslo-hq", StateOnline)

	central.publish(SiteTopic("oslo-hq", "cmd/status"), `{"id":"s1"}`)
	r := central.result("s1")
	require.True(t, r.OK, r.Error)
	var st Status
	require.NoError(t, json.Unmarshal(r.Result, &st))
	assert.Equal(t, StateOnline, st.State)
	central.publish(SiteTopic("oslo-hq", "cmd/sync"), `{"id":"s2"}`)
	r = central.result("s2")
	assert.False(t, r.OK)
	assert.Equal(t, "commands are not available on this agent", r.Error)
}

func TestCommandsQueuedWhileTheSiteIsOfflineRunOnConnect(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	cmds := &siteCommands{}
	s := openStore(t, "", 1000)
	central := watch(t, b.URL(), SiteTopic("oslo-hq", TopicCmdResult), SiteTopic("oslo-hq", TopicStatus))
	tel := runTelemetry(t, Options{Store: s, MQTT: mqttConfig(b.URL()), Commands: cmds})
	central.anyStatus("oslo-hq", StateOnline)
	tel.stop() // the persistent session keeps the command subscription

	central.publish(SiteTopic("oslo-hq", "cmd/sync"), `{"id":"while-offline","room":"r@x"}`)
	runTelemetry(t, Options{Store: s, MQTT: mqttConfig(b.URL()), Commands: cmds})
	assert.True(t, central.result("while-offline").OK)
	assert.Contains(t, cmds.Calls(), `sync "r@x" full=false`)
}

func TestParseRequestKeepsTheIDOfABadRequest(t *testing.T) {
	req, err := parseRequest("push", []byte(`{"id":"x1","endpoint":"a","extra":1}`))
	require.Error(t, err)
	assert.Equal(t, "x1", req.ID)
	req, err = parseRequest("rules-test", []byte(`{"id":"x2","event":{"subject":"s"}}`))
	require.NoError(t, err)
	assert.JSONEq(t, `{"subject":"s"}`, string(req.Event))
	long := make([]byte, maxRequestID+1)
	for i := range long {
		long[i] = 'a'
	}
	_, err = parseRequest("status", []byte(`{"id":"`+string(long)+`"}`))
	assert.EqualError(t, err, `"id" is longer than 128 characters`)
}
