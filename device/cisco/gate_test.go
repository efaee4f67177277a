package cisco

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// TestAFreshStoreLeavesTheCodecAloneUntilTheRoomSyncs: a codec that holds bookings (pushed
// from an earlier store) is not cleared while this store does not know its room, not even in
// the moment between the sync's commit and the processor's pass; once the processor has
// resolved the room, the room's bookings replace them.
func TestAFreshStoreLeavesTheCodecAloneUntilTheRoomSyncs(t *testing.T) {
	h := newHarness(t, false, time.Time{})
	room := "room-01@contoso.example"
	h.unsynced = map[string]bool{room: true}
	c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{})
	base := time.Now().UTC().Truncate(time.Minute).Add(time.Hour)
	ms := providerMeetings(room, base)[:2]
	// What the earlier store pushed: the room's two meetings.
	earlier := BuildPayload(ms, ParseFirmware("ce11.14.4.0 abc", "RoomOS 11.14.4.0"))
	require.NoError(t, c.ForeignPut(string(earlier.Body)))
	before := c.Bookings()
	require.Len(t, before, 2)
	h.start([]Endpoint{ep}, nil)

	e := h.waitEndpoint("codec-1", func(e store.EndpointState) bool { return e.State != store.EndpointUnknown && e.Detail != "connected" })
	assert.Equal(t, store.EndpointWaiting, e.State, e.Detail)
	assert.Contains(t, e.Detail, "waiting for the room's first sync")
	assert.Equal(t, before, c.Bookings(), "the codec keeps its bookings")

	// An operator's push changes nothing either, and says why.
	rs, err := h.mgr.Push(t.Context(), "codec-1")
	require.NoError(t, err)
	require.Len(t, rs, 1)
	assert.Equal(t, OutcomeWaiting, rs[0].Outcome)
	assert.True(t, rs[0].OK())
	assert.Contains(t, rs[0].Detail, "waiting for the room's first sync")

	// The sync commits (events and last success) but the processor has not run yet: the
	// meetings table is still empty, and pushing it would clear the codec.
	require.NoError(t, h.st.Write(t.Context(), func(tx *store.Tx) error {
		return tx.PutRoom(store.RoomState{Mailbox: room, Integration: "m365", Status: store.RoomOK, LastSuccess: time.Now()})
	}))
	rs, err = h.mgr.Push(t.Context(), "codec-1")
	require.NoError(t, err)
	assert.Equal(t, OutcomeWaiting, rs[0].Outcome)
	require.Len(t, c.Puts(), 1, "no Put before the room's first sync")
	assert.Equal(t, "admin", c.Puts()[0].Source, "the only Put is the earlier store's")
	assert.Zero(t, c.Stats().Requests["xCommand/Bookings/Clear"], "no Clear before the room's first sync")
	assert.Equal(t, before, c.Bookings())
	assert.Empty(t, h.events("codec-1", KindForeign), "its own earlier bookings are not another system's")

	// The processor resolves the room (one meeting moved meanwhile): pushed at once.
	ms[1].Subject = "Teams, renamed"
	require.NoError(t, h.st.Write(t.Context(), func(tx *store.Tx) error {
		if _, err := stored.ReplaceMeetings(tx, room, ms); err != nil {
			return err
		}
		return markSynced(tx, room)
	}))
	puts := h.waitPuts(c, 2)
	assert.True(t, puts[1].Accepted)
	assert.Equal(t, "xapi", puts[1].Source)
	assert.Equal(t, []string{"teams-cvi", "teams-webrtc"}, ids(c.Bookings()))
	assert.Equal(t, "Teams, renamed", byID(c.Bookings())["teams-webrtc"].Title)
	e = h.waitEndpoint("codec-1", stateIs(store.EndpointUp))
	assert.Equal(t, "2 bookings pushed", e.Detail)
	assert.Empty(t, h.events("codec-1", KindForeign))
}

// TestARoomWhoseSourceFailsKeepsItsBookings: a room that synced once keeps its last good
// bookings on the codec when its calendar source fails later, also across a restart.
func TestARoomWhoseSourceFailsKeepsItsBookings(t *testing.T) {
	h := newHarness(t, false, time.Time{})
	room := "room-01@contoso.example"
	c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{})
	base := time.Now().UTC().Truncate(time.Minute).Add(time.Hour)
	h.meetings(room, providerMeetings(room, base)[:3]...)
	h.start([]Endpoint{ep}, nil)
	h.waitPuts(c, 1)
	want := c.Bookings()
	require.Len(t, want, 3)

	require.NoError(t, h.st.Write(t.Context(), func(tx *store.Tx) error {
		rs, _, err := tx.Room(room)
		if err != nil {
			return err
		}
		rs.Status, rs.StatusDetail = store.RoomPolicyDenied, "the application access policy denies this mailbox"
		return tx.PutRoom(rs)
	}))
	h.stop()
	h.start([]Endpoint{ep}, nil)
	h.waitPuts(c, 2)
	rs, err := h.mgr.Push(t.Context(), "codec-1")
	require.NoError(t, err)
	assert.Equal(t, OutcomeUnchanged, rs[0].Outcome, rs[0].Detail)
	assert.Equal(t, 3, rs[0].Bookings)
	assert.Equal(t, want, c.Bookings())
}

// TestTheFirstPushAfterTheRoomsFirstSyncWaitsOutNoDebounce: the room's first sync opening
// the gate is not a burst of edits (its whole window arrives at once), so the codec gets its
// bookings at once, not after the 2 s quiet time; later edits are debounced as before. The
// clock does not move: a push that waited for the debounce would not come.
func TestTheFirstPushAfterTheRoomsFirstSyncWaitsOutNoDebounce(t *testing.T) {
	for _, parked := range []bool{false, true} {
		t.Run(map[bool]string{false: "persistent", true: "on_demand"}[parked], func(t *testing.T) {
			start := time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)
			h := newHarness(t, true, start)
			room := "room-01@contoso.example"
			h.unsynced = map[string]bool{room: true}
			c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{UpFor: time.Hour})
			var tune func(*Options)
			if parked {
				tune = func(o *Options) { o.Connection = ConnOnDemand }
			}
			h.start([]Endpoint{ep}, tune)
			h.waitEndpoint("codec-1", stateIs(store.EndpointWaiting))
			if parked { // not dialled while its room has not synced: the first sync dials it
				assert.Zero(t, c.Stats().Handshakes.Attempts, "no login before the room's first sync")
			}

			ms := providerMeetings(room, start.Add(3*time.Hour))[:2]
			require.NoError(t, h.st.Write(t.Context(), func(tx *store.Tx) error {
				if _, err := stored.ReplaceMeetings(tx, room, ms); err != nil {
					return err
				}
				return markSynced(tx, room)
			}))
			puts := h.waitPuts(c, 1)
			assert.True(t, puts[0].Accepted)
			assert.Len(t, c.Bookings(), 2)
			assert.Equal(t, 1, c.Stats().Handshakes.ByStatus[http.StatusSwitchingProtocols], "one login in all")
			assert.Empty(t, h.events("codec-1", KindRestarted), "a first contact is no restart")

			// An edit afterwards waits out the debounce.
			ms[0].Subject = "Renamed"
			require.NoError(t, h.st.Write(t.Context(), func(tx *store.Tx) error {
				_, err := stored.ReplaceMeetings(tx, room, ms)
				return err
			}))
			h.waitIdle("codec-1", 1)
			assert.Len(t, c.Puts(), 1, "an edit is not pushed before its quiet time")
		})
	}
}
