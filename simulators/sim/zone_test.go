package sim

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestZonePlacesTheWorkingDay: --zone moves the generated calendars' working hours (08:00-18:00)
// into that zone, so a bench can stand at the same place in the simulated working day whatever
// the wall clock; without it they are this machine's (here UTC's).
func TestZonePlacesTheWorkingDay(t *testing.T) {
	now := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC) // a Monday, 02:00 UTC: 07:00 in Etc/GMT-5
	plus5 := time.FixedZone("UTC+5", 5*3600)
	for _, tc := range []struct {
		zone string
		loc  *time.Location
	}{{"", time.UTC}, {"Etc/GMT-5", plus5}} {
		run, err := Start(t.Context(), Options{Dir: t.TempDir(), Rooms: 4, Meetings: 20, MQTT: "off", Clean: true,
			Now: func() time.Time { return now }, Zone: tc.zone})
		require.NoError(t, err, tc.zone)
		inHours, outside := 0, 0
		for _, room := range run.Env.Rooms {
			items, err := run.Env.Calendar.CalendarView(room, now.Add(time.Hour), now.AddDate(0, 0, 7))
			require.NoError(t, err)
			for _, it := range items {
				st := startOf(t, it)
				if h := st.In(tc.loc).Hour(); h >= 8 && h < 18 {
					inHours++
				} else {
					outside++
					t.Errorf("zone %q: %s starts at %s, outside 08:00-18:00 there", tc.zone, room, st.In(tc.loc).Format("Mon 15:04"))
				}
			}
		}
		assert.Greater(t, inHours, 40, "zone %q: the rooms have their meetings", tc.zone)
		assert.Zero(t, outside)
		run.Close()
	}
}

// startOf reads a rendered event's start ({"dateTime", "timeZone"}).
func startOf(t *testing.T, ev map[string]any) time.Time {
	t.Helper()
	st, _ := ev["start"].(map[string]any)
	dt, _ := st["dateTime"].(string)
	zone, _ := st["timeZone"].(string)
	loc, err := time.LoadLocation(zone)
	require.NoError(t, err, "event start zone %q", zone)
	at, err := time.ParseInLocation("2006-01-02T15:04:05.0000000", dt, loc)
	require.NoError(t, err, "event start %q", dt)
	return at
}

// TestZoneFlagRefusesAnUnknownZone: a misspelt zone stops otj-sim before anything starts, naming
// the flag.
func TestZoneFlagRefusesAnUnknownZone(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"--dir", t.TempDir(), "--zone", "Europe/Atlantis"}, &out, &errOut)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut.String(), `--zone "Europe/Atlantis"`)
	assert.Empty(t, out.String(), "nothing started")
}
