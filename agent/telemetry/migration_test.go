package telemetry

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/migrate"
	"github.com/otj-edge/otj-edge/simulators/mosquitto"
)

// TestMigrationIsRetainedWhileRoomsAreShadowed: the shadow check is a retained message at
// otj/v1/<site>/migration (pinned by testdata/migration.golden); it is published again when
// a room's result changes, and the topic is cleared when nothing is shadowed any more. A late
// subscriber gets the retained report.
func TestMigrationIsRetainedWhileRoomsAreShadowed(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	topic := SiteTopic("oslo-hq", TopicMigration)
	w := watch(t, b.URL(), topic)
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	fake := clock.NewFake(now)
	rep := migrate.Report{CheckedAt: now, Counts: map[string]int{migrate.Identical: 1, migrate.Differs: 1, migrate.NotReadable: 1}, Rooms: []migrate.Room{
		{Room: "board@contoso.com", Live: "onprem", Shadow: "m365", State: migrate.Differs, Detail: "1 difference between onprem (live) and m365 (shadow)",
			LiveMeetings: 3, ShadowMeetings: 3, Differences: []string{"10:00 'Board' join sip:a@contoso.com (live) vs sip:b@contoso.com (shadow)"}, ShadowStatus: "ok", ShadowSynced: now.Add(-time.Minute)},
		{Room: "fjord@contoso.com", Live: "onprem", Shadow: "m365", State: migrate.NotReadable, Detail: "the shadow integration m365 cannot read the room: policy_denied",
			Fix: "Exchange Online does not let the app read fjord@contoso.com: add it to the app's management scope", ShadowStatus: "policy_denied"},
		{Room: "loft@contoso.com", Live: "onprem", Shadow: "m365", State: migrate.Identical, Detail: "2 meetings, the same through onprem and m365",
			Fix: "to move it: integration: m365 on its endpoints (loft-codec), then otj-edge reload", LiveMeetings: 2, ShadowMeetings: 2, ShadowStatus: "ok", ShadowSynced: now.Add(-time.Minute)},
	}}
	var mu sync.Mutex
	current := rep
	runTelemetry(t, Options{Store: openStore(t, "", 1000), MQTT: mqttConfig(b.URL()), Clock: fake,
		Migration: func(context.Context) (migrate.Report, error) {
			mu.Lock()
			defer mu.Unlock()
			return current, nil
		}})
	isMigration := func(m paho.Message) bool { return m.Topic() == topic }
	m := w.next("the migration report", isMigration)
	golden(t, "migration", m.Payload())

	late := watch(t, b.URL(), topic)
	got := late.next("the retained report", isMigration)
	assert.True(t, got.Retained())
	assert.JSONEq(t, string(m.Payload()), string(got.Payload()))

	// The board room is fixed: the report changes and is published again at the next check.
	mu.Lock()
	current.Rooms = append([]migrate.Room(nil), rep.Rooms...)
	current.Rooms[0].State, current.Rooms[0].Differences = migrate.Identical, nil
	mu.Unlock()
	require.Eventually(t, func() bool { return fake.Timers() > 0 }, wait, time.Millisecond)
	fake.Advance(time.Minute)
	var doc Migration
	m = w.next("the changed report", isMigration)
	require.NoError(t, json.Unmarshal(m.Payload(), &doc))
	assert.Equal(t, migrate.Identical, doc.Rooms[0].State)
	assert.Equal(t, "oslo-hq", doc.Site)

	// Every room moved: nothing is shadowed, the retained report is cleared.
	mu.Lock()
	current = migrate.Report{Counts: map[string]int{}}
	mu.Unlock()
	fake.Advance(time.Minute)
	m = w.next("the cleared topic", isMigration)
	assert.Empty(t, m.Payload())
}
