package sim

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// TestFreeBusyDetails: sim.json's graph block says the rooms' getSchedule detail level, Exchange's
// availability_only unless --free-busy-details asks for limited_details, and graphsim applies it.
func TestFreeBusyDetails(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for _, level := range []string{"", graphsim.FreeBusyLimitedDetails} {
		run, err := Start(t.Context(), Options{Dir: t.TempDir(), Rooms: 3, Meetings: 2, MQTT: "off", Clean: true,
			Now: func() time.Time { return now }, FreeBusyDetails: level})
		require.NoError(t, err)
		b, err := os.ReadFile(run.SimJSON)
		require.NoError(t, err)
		var f File
		require.NoError(t, json.Unmarshal(b, &f))
		want := level
		if want == "" {
			want = graphsim.FreeBusyAvailabilityOnly
		}
		assert.Equal(t, want, f.Graph.FreeBusyDetails)
		resp, err := http.Get(f.Graph.Admin + "/rooms/" + f.Graph.Rooms[0])
		require.NoError(t, err)
		var room struct {
			FreeBusyDetails string `json:"free_busy_details"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&room))
		resp.Body.Close()
		assert.Equal(t, want, room.FreeBusyDetails, "graphsim applies the level")
		run.Close()
	}
	_, err := Start(t.Context(), Options{Dir: t.TempDir(), Rooms: 3, MQTT: "off", FreeBusyDetails: "reviewer"})
	assert.ErrorContains(t, err, "free_busy_details")
}
