package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/report"
	"github.com/otj-edge/otj-edge/simulators/mosquitto"
	"github.com/otj-edge/otj-edge/store"
)

// TestTheDailyReportIsPublishedRetainedAndMatchesGolden makes a day's report from a real store
// (a refused room, pushes, a joined and two missed meetings, one private) and checks what the
// central broker receives on otj/v1/<site>/report: retained, so a dashboard that subscribes
// later still gets it; published again when the next report is made; never a private subject.
func TestTheDailyReportIsPublishedRetainedAndMatchesGolden(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	utc := time.UTC
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, utc)
	fake := clock.NewFake(day.Add(8 * time.Hour))
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "otj-edge.db"), store.Options{Now: fake.Now})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	require.NoError(t, st.Write(ctx, func(tx *store.Tx) error {
		if err := tx.SyncRooms([]store.RoomRef{{Mailbox: "room-01@contoso.example", Integration: "m365"}, {Mailbox: "room-02@contoso.example", Integration: "m365"}}); err != nil {
			return err
		}
		if err := tx.SyncEndpoints([]store.EndpointRef{{Name: "codec-1", Type: "cisco", Room: "room-01@contoso.example"}}); err != nil {
			return err
		}
		if err := tx.PutRoom(store.RoomState{Mailbox: "room-01@contoso.example", Integration: "m365", Status: "ok", LastSuccess: fake.Now()}); err != nil {
			return err
		}
		if err := tx.PutRoom(store.RoomState{Mailbox: "room-02@contoso.example", Integration: "m365", Status: "policy_denied",
			StatusDetail: "the app may not read this mailbox: add it to the management scope", LastSuccess: day.Add(-time.Hour)}); err != nil {
			return err
		}
		if err := tx.PutEndpoint(store.EndpointState{Name: "codec-1", Type: "cisco", Room: "room-01@contoso.example", State: store.EndpointUp}); err != nil {
			return err
		}
		for _, e := range []store.Event{
			{Kind: "push.ok", Room: "room-01@contoso.example", Endpoint: "codec-1", Message: "3 bookings pushed"},
			{Kind: "meeting.joined", Room: "room-01@contoso.example", Endpoint: "codec-1", Message: `meeting joined from the room: "Standup"`,
				Data: map[string]any{"start": day.Add(9 * time.Hour).Format(time.RFC3339), "private": false}},
			{Kind: "meeting.not_joined", Room: "room-01@contoso.example", Endpoint: "codec-1", Message: `booked but not joined: "Quarterly review"`,
				Data: map[string]any{"start": day.Add(14 * time.Hour).Format(time.RFC3339), "platform": "MicrosoftTeams", "private": false}},
			{Kind: "meeting.not_joined", Room: "room-01@contoso.example", Endpoint: "codec-1", Message: `booked but not joined: "Salary talks"`,
				Data: map[string]any{"start": day.Add(15 * time.Hour).Format(time.RFC3339), "platform": "Zoom", "private": true}},
		} {
			if err := tx.Emit(e); err != nil {
				return err
			}
		}
		return nil
	}))
	r, err := report.New(report.Options{Store: st, Site: "oslo-hq", At: 7 * time.Hour, Location: utc, Clock: fake,
		Requests: func(context.Context, time.Time) ([]report.Integration, error) {
			return []report.Integration{{Name: "m365", Type: "graph", Requests: 48_210, Budget: 1_000_000}}, nil
		}})
	require.NoError(t, err)
	fake.Set(day.AddDate(0, 0, 1).Add(7 * time.Hour))
	require.NoError(t, r.MakeDue(ctx))

	runTelemetry(t, Options{Store: st, Site: "oslo-hq", MQTT: mqttConfig(b.URL()), Clock: fake})
	isReport := func(m paho.Message) bool { return m.Topic() == SiteTopic("oslo-hq", TopicReport) }
	first := watch(t, b.URL(), SiteTopic("oslo-hq", TopicReport)).next("the daily report", isReport)
	golden(t, "report", messageID.ReplaceAll(first.Payload(), []byte(`"id":"<id>"`)))
	assert.NotContains(t, string(first.Payload()), "Salary talks", "a private meeting's subject never leaves the site")

	late := watch(t, b.URL(), SiteTopic("oslo-hq", TopicReport)).next("the retained report for a late subscriber", isReport)
	assert.True(t, late.Retained())
	assert.JSONEq(t, string(first.Payload()), string(late.Payload()))

	// The next morning's report replaces it.
	w := watch(t, b.URL(), SiteTopic("oslo-hq", TopicReport))
	w.next("the retained report on subscribing", isReport)
	fake.Set(day.AddDate(0, 0, 2).Add(7 * time.Hour))
	require.NoError(t, r.MakeDue(ctx))
	next := w.next("the next day's report", isReport)
	var got report.Report
	require.NoError(t, json.Unmarshal(next.Payload(), &got))
	assert.Equal(t, "2026-11-24", got.Day, fmt.Sprintf("%s", next.Payload()))
}
