package sourcetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

// TestDiffFindsWhatAUserWouldSee: the cross-source comparison ignores the services' own item
// ids and catches a changed join address, a moved time and a meeting only one side has.
func TestDiffFindsWhatAUserWouldSee(t *testing.T) {
	m := calendar.Meeting{ID: "uid-1@2026-11-23T10:00", ICalUID: "uid-1", EventID: "AAMk-graph", SeriesMasterID: "AAMk-master",
		Start: T0.Add(time.Hour), End: T0.Add(2 * time.Hour), Subject: "Review", Join: true, Number: "sip:a@vc.example", Platform: calendar.PlatformOther}
	same := m
	same.EventID, same.SeriesMasterID = "AAQk-ews", "AAQk-ews-master"
	assert.Empty(t, Diff([]calendar.Meeting{m}, []calendar.Meeting{same}), "item ids differ between services")

	address := same
	address.Number = "sip:b@vc.example"
	assert.Len(t, Diff([]calendar.Meeting{m}, []calendar.Meeting{address}), 1)
	moved := same
	moved.End = moved.End.Add(time.Minute)
	assert.Len(t, Diff([]calendar.Meeting{m}, []calendar.Meeting{moved}), 1)
	single := same
	single.SeriesMasterID = ""
	assert.Len(t, Diff([]calendar.Meeting{m}, []calendar.Meeting{single}), 1, "an occurrence read as a single meeting differs")
	d := Diff([]calendar.Meeting{m}, nil)
	assert.Len(t, d, 1)
	assert.Contains(t, d[0], "only in the first")
}
