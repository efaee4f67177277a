package web

import (
	"fmt"
	"strings"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// The outage site: 21 rooms, one codec each. Microsoft Graph answers 503 for rooms 01–19
// since 02:03; room 20's codec refuses connections (HTTP 503: its session limit); room 21
// syncs, but its codec holds another system's bookings. The details are worded as
// sync/graph and device/cisco word them.
const (
	outageRooms  = 21
	graph503     = "Graph is unavailable (503 ServiceUnavailable); retrying"
	codec503     = "the codec refused the connection: connection rate or session limit (HTTP 503)"
	codecForeign = "another system pushes bookings to this codec (2 bookings otj-edge did not push, last seen 2026-03-10 09:41: tms-1, tms-2); only one system should push to a codec"
)

func outageRoom(i int) string  { return fmt.Sprintf("room-%02d@example.com", i) }
func outageCodec(i int) string { return fmt.Sprintf("codec-%02d", i) }

func outageConfig() string {
	var b strings.Builder
	b.WriteString(`site: oslo-hq
state_dir: state
status:
  listen: 127.0.0.1:8787
integrations:
  - name: m365
    type: graph
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: graph-client-secret-value-123
    token_url: https://login.microsoftonline.com/contoso/oauth2/v2.0/token
profiles:
  - name: default
endpoints:
`)
	for i := 1; i <= outageRooms; i++ {
		fmt.Fprintf(&b, "  - {name: %s, type: cisco, room: %s, address: 127.0.0.1:%d, username: admin, password: codec-a-secret-pass}\n",
			outageCodec(i), outageRoom(i), 1000+i)
	}
	return b.String()
}

func (f *fixture) seedOutage() {
	now := fixtureNow.UTC()
	since := at(2, 3).UTC() // the last good answer of any of the 19 rooms
	require.NoError(f.t, f.store.Write(f.t.Context(), func(tx *store.Tx) error {
		for i := 1; i <= outageRooms; i++ {
			r := store.RoomState{Mailbox: outageRoom(i), Integration: "m365", Status: store.RoomOK,
				LastAttempt: now.Add(-time.Minute), LastSuccess: now.Add(-time.Minute)}
			if i <= 19 {
				r.Status, r.StatusDetail = store.RoomTransient, graph503
				r.LastSuccess = since.Add(-time.Duration(i%5) * time.Minute)
			}
			if err := tx.PutRoom(r); err != nil {
				return err
			}
			e := store.EndpointState{Name: outageCodec(i), Type: "cisco", Room: outageRoom(i), State: store.EndpointUp,
				Detail: "3 bookings pushed", LastContact: now.Add(-30 * time.Second), LastPush: now.Add(-10 * time.Minute)}
			switch i {
			case 20:
				e.State, e.Detail, e.LastContact = store.EndpointDown, codec503, at(9, 12).UTC()
			case 21:
				e.State, e.Detail = store.EndpointDegraded, codecForeign
			}
			if err := tx.PutEndpoint(e); err != nil {
				return err
			}
		}
		// Room 21's next meeting is tomorrow and has no Join button.
		_, err := stored.ReplaceMeetings(tx, outageRoom(21), []calendar.Meeting{{ID: "m21", EventID: "ev-m21", Subject: "Budget review",
			Start: at(24+8, 30).UTC(), End: at(24+9, 30).UTC(), Reason: "no rule matched and no sip:/h323: address"}})
		return err
	}))
	f.health.OK("store", "")
	f.health.Warn("graph/m365", "19 of 21 rooms not syncing (19 transient): room-01@example.com transient, room-02@example.com transient, room-03@example.com transient")
	f.health.Warn("cisco/"+outageCodec(20), codec503)
	f.health.Warn("cisco/"+outageCodec(21), codecForeign)
	for i := 1; i <= 19; i++ {
		f.health.OK("cisco/"+outageCodec(i), "")
	}
}
