package sim

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestZonePlacesTheWorkingDay: --zone moves the generated calendars' working hours (08:00-18:00)
// into that zone and --shift moves their half-hour grid, so a bench can stand at the same minute
// of the simulated working day whatever the wall clock; without them meetings start on the hour
// and half hour of the scenario's "now"'s zone (here UTC: otj-sim's now is the machine's clock).
func TestZonePlacesTheWorkingDay(t *testing.T) {
	now := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC) // a Monday, 02:00 UTC: 07:00 in Etc/GMT-5
	plus5 := time.FixedZone("UTC+5", 5*3600)
	for _, tc := range []struct {
		zone  string
		shift time.Duration
		loc   *time.Location
	}{{"", 0, time.UTC}, {"Etc/GMT-5", 0, plus5}, {"Etc/GMT-5", 17 * time.Minute, plus5}, {"", -12 * time.Minute, time.UTC}} {
		run, err := Start(t.Context(), Options{Dir: t.TempDir(), Rooms: 4, Meetings: 20, MQTT: "off", Clean: true,
			Now: func() time.Time { return now }, Zone: tc.zone, Shift: tc.shift})
		require.NoError(t, err, tc.zone)
		inHours, outside := 0, 0
		for _, room := range run.Env.Rooms {
			items, err := run.Env.Calendar.CalendarView(room, now.Add(time.Hour), now.AddDate(0, 0, 7))
			require.NoError(t, err)
			for _, it := range items {
				grid := startOf(t, it).In(tc.loc).Add(-tc.shift) // the unshifted working day's time
				if h := grid.Hour(); h >= 8 && h < 18 && grid.Minute()%30 == 0 {
					inHours++
				} else {
					outside++
					t.Errorf("zone %q, shift %s: %s starts at %s, off the 08:00-18:00 half hours there", tc.zone, tc.shift, room,
						grid.Add(tc.shift).Format("Mon 15:04"))
				}
			}
		}
		assert.Greater(t, inHours, 40, "zone %q, shift %s: the rooms have their meetings", tc.zone, tc.shift)
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

// TestZoneAndShiftFlagsRefuseBadValues: a misspelt zone or a shift that is not whole minutes
// within half an hour stops otj-sim before anything starts, naming the flag.
func TestZoneAndShiftFlagsRefuseBadValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--zone", "Europe/Atlantis"}, `--zone "Europe/Atlantis"`},
		{[]string{"--shift", "31m"}, "--shift 31m0s"},
		{[]string{"--shift", "-45m"}, "--shift -45m0s"},
		{[]string{"--shift", "90s"}, "--shift 1m30s: want whole minutes"},
	} {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), append([]string{"--dir", t.TempDir()}, tc.args...), &out, &errOut)
		assert.Equal(t, 2, code, tc.args)
		assert.Contains(t, errOut.String(), tc.want)
		assert.Empty(t, out.String(), "nothing started")
	}
}

// Start called from code (the bench, tests) refuses the same shifts as the flag, before it
// starts anything: a part of a minute would otherwise be dropped without a word.
func TestStartRefusesAShiftOfPartMinutes(t *testing.T) {
	for _, shift := range []time.Duration{90 * time.Second, -31 * time.Minute, 45 * time.Minute} {
		dir := t.TempDir()
		run, err := Start(context.Background(), Options{Dir: dir, Rooms: 1, Shift: shift})
		if run != nil {
			run.Close()
		}
		require.Error(t, err, shift)
		assert.Contains(t, err.Error(), "want whole minutes from -30m to 30m")
		entries, _ := os.ReadDir(dir)
		assert.Empty(t, entries, "nothing written for shift %s", shift)
	}
}
