package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/device/webex"
	"github.com/otj-edge/otj-edge/store"
)

// The Webex endpoint type's adviser, registered as the agent registers it
// (agent/endpoints_webex.go): the page learns Webex's causes from the driver, not from here.
func init() {
	RegisterEndpointAdviser("webex", EndpointAdviser{Cause: webex.Cause, Advice: webex.Advice})
}

// seedWebex adds Webex devices to the fixture's site, with the driver's wording: two offline
// (one problem row), one whose xAPI permission was removed, one up (its product, software and
// device id shown).
func (f *fixture) seedWebex() {
	offline := func(name, id string) string {
		return `offline in Webex (disconnected): Webex device "` + name + `", id ` + id + ` is not connected to the Webex cloud, ` +
			`so it cannot take bookings; check it in Control Hub (Devices → status). otj-edge pushes when Webex shows it connected (checked every 1m0s)`
	}
	now := fixtureNow
	eps := []store.EndpointState{
		{Name: "wx-a", Type: "webex", Room: "room-a@example.com", State: store.EndpointDown, Product: "Cisco Room Bar",
			Software: "RoomOS 11.14", Detail: offline("Room A Bar", "Y2lzY29zcGFyazovL3VzL0RFVklDRS9h"), LastContact: now.Add(-20 * time.Minute)},
		{Name: "wx-b", Type: "webex", Room: "room-b@example.com", State: store.EndpointDown, Product: "Cisco Room Bar",
			Software: "RoomOS 11.14", Detail: offline("Room B Bar", "Y2lzY29zcGFyazovL3VzL0RFVklDRS9i"), LastContact: now.Add(-25 * time.Minute)},
		{Name: "wx-c", Type: "webex", Room: "room-c@example.com", State: store.EndpointDegraded, Product: "Cisco Board Pro",
			Software: "RoomOS 11.14", Detail: `Webex refuses the xAPI command (HTTP 403: The device does not allow the requested xAPI access.): ` +
				`the integration needs the scope spark:xapi_commands and the device must give it xapi:all`},
		{Name: "wx-d", Type: "webex", Room: "room-a@example.com", State: store.EndpointUp, Product: "Cisco Room Kit Pro",
			Software: "RoomOS 11.14", Detail: `3 bookings pushed through Webex; Webex device "Room A Kit", id Y2lzY29zcGFyazovL3VzL0RFVklDRS9k`,
			LastPush: now.Add(-2 * time.Minute), LastContact: now.Add(-2 * time.Minute)},
	}
	require.NoError(f.t, f.store.Write(f.t.Context(), func(tx *store.Tx) error {
		for _, e := range eps {
			if err := tx.PutEndpoint(e); err != nil {
				return err
			}
		}
		return nil
	}))
	f.health.Fail("webex/wx-a", eps[0].Detail)
	f.health.Fail("webex/wx-b", eps[1].Detail)
	f.health.Fail("webex/wx-c", eps[2].Detail)
	f.health.OK("webex/wx-d", eps[3].Detail)
}

// TestWebexEndpointsGetWebexAdvice: the endpoints page and API give Webex devices the
// driver's advice (Control Hub, the xAPI scope and permission), never the LAN's (power, VLAN,
// the device's address); two devices offline in Webex are one problem row on the overview;
// the page shows each device's product, software and Webex device id.
func TestWebexEndpointsGetWebexAdvice(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.seedWebex()

	code, body := f.get("/endpoints")
	require.Equal(t, http.StatusOK, code)
	golden(t, "endpoints-webex.html", body)
	assert.Contains(t, body, "Cisco Room Kit Pro")
	assert.Contains(t, body, "Y2lzY29zcGFyazovL3VzL0RFVklDRS9k", "the resolved device id")

	code, body = f.get("/api/endpoints")
	require.Equal(t, http.StatusOK, code)
	var eps []Endpoint
	require.NoError(t, json.Unmarshal([]byte(body), &eps))
	byName := map[string]Endpoint{}
	for _, e := range eps {
		byName[e.Name] = e
	}
	a := byName["wx-a"].Alarms
	require.NotEmpty(t, a)
	assert.True(t, strings.HasPrefix(a[0].Message, "offline in Webex"), a[0].Message)
	assert.Contains(t, a[0].Advice, "Check the device in Control Hub (Devices → the device → status)")
	for _, lan := range []string{"VLAN", "its address", "powered"} {
		assert.NotContains(t, a[0].Advice, lan)
	}
	c := byName["wx-c"].Alarms
	require.NotEmpty(t, c)
	assert.Equal(t, webex.CauseNoXAPI+": "+byName["wx-c"].Detail, c[0].Message)
	assert.Contains(t, c[0].Advice, "spark:xapi_commands")
	assert.Equal(t, "otj-edge endpoints retry wx-c", c[0].Command)
	assert.Empty(t, byName["wx-d"].Alarms)
	codec := byName["codec-c"].Alarms
	require.NotEmpty(t, codec)
	assert.NotContains(t, codec[0].Advice, "Control Hub", "a LAN codec keeps its own advice")

	_, body = f.get("/")
	summaries, bodies := problemRows(body)
	i := -1
	for k, s := range summaries {
		if strings.Contains(s, "offline in Webex") {
			assert.Equal(t, -1, i, "one row for both devices: %q", summaries)
			i = k
		}
	}
	require.NotEqual(t, -1, i, "%q", summaries)
	assert.Contains(t, summaries[i], "2 endpoints")
	assert.Contains(t, bodies[i], "Control Hub")
}
