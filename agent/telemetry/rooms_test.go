package telemetry

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/mosquitto"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

const (
	room1 = "room-01@example.com"
	room2 = "room-02@example.com"
)

func setUpRooms(t *testing.T, s *store.Store, now time.Time) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, s.Write(ctx, func(tx *store.Tx) error {
		if err := tx.SyncRooms([]store.RoomRef{{Mailbox: room1, Integration: "m365"}, {Mailbox: room2, Integration: "m365"}}); err != nil {
			return err
		}
		if err := tx.SyncEndpoints([]store.EndpointRef{{Name: "codec-1", Type: "cisco", Room: room1}, {Name: "poly-2", Type: "poly", Room: room2}}); err != nil {
			return err
		}
		if err := tx.PutRoom(store.RoomState{Mailbox: room1, Integration: "m365", Status: store.RoomOK, LastSuccess: now.Add(-time.Minute),
			LastAttempt: now.Add(-time.Minute), Diagnosis: []store.Finding{{Flag: "add_organizer_to_subject", Detail: "subjects show the organizer",
				Fix: "Set-CalendarProcessing -Identity room-01@example.com -AddOrganizerToSubject $false"}}}); err != nil {
			return err
		}
		_, err := stored.ReplaceMeetings(tx, room1, []calendar.Meeting{
			{ID: "now", Start: now.Add(-10 * time.Minute), End: now.Add(20 * time.Minute), Subject: "Board meeting", Join: true,
				Number: "123456789@zoomcrc.com", Protocol: "SIP", Platform: "Zoom"},
			{ID: "next", Start: now.Add(time.Hour), End: now.Add(2 * time.Hour), Subject: "Salary review", Private: true,
				Reason: "no video address in the invite"},
		})
		return err
	}))
	require.NoError(t, s.UpdateEndpoint(ctx, "codec-1", func(e *store.EndpointState) error {
		e.State, e.Product, e.Software, e.LastContact = store.EndpointUp, "Cisco Room Kit", "ce11.14", now
		return nil
	}))
}

// roomState waits for a retained or live state of room that satisfies ok.
func (w *watcher) roomState(room string, ok func(RoomState) bool) (RoomState, paho.Message) {
	w.t.Helper()
	var st RoomState
	m := w.next("a state of "+room, func(m paho.Message) bool {
		st = RoomState{}
		return m.Topic() == RoomTopic("oslo-hq", room) && len(m.Payload()) > 0 && json.Unmarshal(m.Payload(), &st) == nil && ok(st)
	})
	return st, m
}

func TestRoomStatesAreRetainedFollowTheStoreAndAreClearedWhenARoomGoes(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	s := openStore(t, "", 1000)
	now := time.Now()
	setUpRooms(t, s, now)
	early := watch(t, b.URL(), SiteTopic("oslo-hq", TopicRooms+"/#"))
	runTelemetry(t, Options{Store: s, MQTT: mqttConfig(b.URL()), Location: time.UTC})
	early.roomState(room1, func(RoomState) bool { return true })
	early.roomState(room2, func(RoomState) bool { return true })

	late := watch(t, b.URL(), SiteTopic("oslo-hq", TopicRooms+"/#"))
	st, m := late.roomState(room1, func(RoomState) bool { return true })
	assert.True(t, m.Retained())
	assert.Equal(t, room1, st.Room)
	assert.Equal(t, store.RoomOK, st.Sync.Status)
	require.NotNil(t, st.Sync.DataAgeSeconds)
	assert.InDelta(t, 60, *st.Sync.DataAgeSeconds, 5)
	require.NotNil(t, st.Current)
	assert.True(t, st.Current.Join)
	assert.Equal(t, "Zoom", st.Current.Platform)
	require.NotNil(t, st.Next)
	assert.False(t, st.Next.Join)
	assert.True(t, st.Next.Private)
	assert.Equal(t, "no video address in the invite", st.Next.Reason)
	assert.GreaterOrEqual(t, st.MeetingsToday, 1)
	require.Len(t, st.Endpoints, 1)
	assert.Equal(t, EndpointState{Name: "codec-1", Type: "cisco", State: store.EndpointUp, Product: "Cisco Room Kit", Software: "ce11.14",
		LastContact: st.Endpoints[0].LastContact}, st.Endpoints[0])
	require.Len(t, st.Diagnosis, 1)
	assert.Equal(t, "add_organizer_to_subject", st.Diagnosis[0].Flag)
	for _, secret := range []string{"Board meeting", "Salary review", "123456789@zoomcrc.com"} {
		assert.NotContains(t, string(m.Payload()), secret, "room states carry no meeting content")
	}
	st2, _ := late.roomState(room2, func(RoomState) bool { return true })
	assert.Equal(t, store.RoomPending, st2.Sync.Status)
	assert.Nil(t, st2.Sync.DataAgeSeconds)

	// A sync round that changes only times is not republished (until Timing.RoomRefresh): room 2
	// is synced, then codec-1 goes down; room 2 next shows up when its status changes.
	require.NoError(t, s.Write(context.Background(), func(tx *store.Tx) error {
		r, _, err := tx.Room(room2)
		if err != nil {
			return err
		}
		r.LastAttempt = time.Now()
		return tx.PutRoom(r)
	}))
	require.NoError(t, s.UpdateEndpoint(context.Background(), "codec-1", func(e *store.EndpointState) error {
		e.State, e.Detail = store.EndpointDown, "connection refused"
		return nil
	}))
	st, m = late.roomState(room1, func(st RoomState) bool { return len(st.Endpoints) == 1 && st.Endpoints[0].State == store.EndpointDown })
	assert.False(t, m.Retained(), "a live update")
	assert.Equal(t, "connection refused", st.Endpoints[0].Detail)
	require.NoError(t, s.Write(context.Background(), func(tx *store.Tx) error {
		r, _, err := tx.Room(room2)
		if err != nil {
			return err
		}
		r.Status = store.RoomThrottled
		return tx.PutRoom(r)
	}))
	late.next("room 2's next state", func(m paho.Message) bool {
		if m.Topic() != RoomTopic("oslo-hq", room2) {
			return false
		}
		var st RoomState
		require.NoError(t, json.Unmarshal(m.Payload(), &st))
		assert.Equal(t, store.RoomThrottled, st.Sync.Status, "only a change of content is published")
		return true
	})

	// Room 2 leaves the config: its retained state is cleared.
	require.NoError(t, s.Write(context.Background(), func(tx *store.Tx) error {
		return tx.SyncRooms([]store.RoomRef{{Mailbox: room1, Integration: "m365"}})
	}))
	late.next("room 2's retained state cleared", func(m paho.Message) bool {
		return m.Topic() == RoomTopic("oslo-hq", room2) && len(m.Payload()) == 0
	})
	require.Eventually(t, func() bool { // recorded once the broker acknowledged
		rooms, err := s.RetainedRooms(context.Background())
		return err == nil && len(rooms) == 1 && rooms[0] == room1
	}, wait, 5*time.Millisecond)
}

func TestARoomRemovedWhileStoppedIsClearedOnTheNextConnect(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	s := openStore(t, "", 1000)
	setUpRooms(t, s, time.Now())
	tel := runTelemetry(t, Options{Store: s, MQTT: mqttConfig(b.URL())})
	w := watch(t, b.URL(), SiteTopic("oslo-hq", TopicRooms+"/#"))
	w.roomState(room2, func(RoomState) bool { return true })
	tel.stop()

	require.NoError(t, s.Write(context.Background(), func(tx *store.Tx) error {
		return tx.SyncRooms([]store.RoomRef{{Mailbox: room1, Integration: "m365"}}) // the config changed while the agent was stopped
	}))
	runTelemetry(t, Options{Store: s, MQTT: mqttConfig(b.URL())})
	w.next("room 2's retained state cleared", func(m paho.Message) bool {
		return m.Topic() == RoomTopic("oslo-hq", room2) && len(m.Payload()) == 0
	})
}

func TestRoomTopicEscapesMQTTWildcards(t *testing.T) {
	assert.Equal(t, "otj/v1/oslo-hq/rooms/room-01@example.com", RoomTopic("oslo-hq", "room-01@example.com"))
	assert.Equal(t, "otj/v1/oslo-hq/rooms/a%2Bb%23c%2Fd%25@example.com", RoomTopic("oslo-hq", "a+b#c/d%@example.com"))
}

// TestAnEndpointMovedToAnotherRoomShowsInItsNewRoomOnly: only the changed rooms are read
// between full refreshes; an endpoint the config moves leaves its old room's state and shows
// in the new one's at once.
func TestAnEndpointMovedToAnotherRoomShowsInItsNewRoomOnly(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	s := openStore(t, "", 1000)
	setUpRooms(t, s, time.Now())
	w := watch(t, b.URL(), SiteTopic("oslo-hq", TopicRooms+"/#"))
	runTelemetry(t, Options{Store: s, MQTT: mqttConfig(b.URL()), Location: time.UTC})
	w.roomState(room1, func(st RoomState) bool { return len(st.Endpoints) == 1 })
	w.roomState(room2, func(st RoomState) bool { return len(st.Endpoints) == 1 })

	require.NoError(t, s.Write(context.Background(), func(tx *store.Tx) error {
		return tx.SyncEndpoints([]store.EndpointRef{{Name: "codec-1", Type: "cisco", Room: room2}, {Name: "poly-2", Type: "poly", Room: room2}})
	}))
	w.roomState(room1, func(st RoomState) bool { return len(st.Endpoints) == 0 })
	st, _ := w.roomState(room2, func(st RoomState) bool { return len(st.Endpoints) == 2 })
	assert.Equal(t, []string{"codec-1", "poly-2"}, []string{st.Endpoints[0].Name, st.Endpoints[1].Name})
	assert.Equal(t, store.EndpointUnknown, st.Endpoints[0].State, "a moved endpoint starts over")
}
