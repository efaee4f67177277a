package graph

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/sync/graph/graphconf"
)

func probeLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, "change probe") {
			out = append(out, l)
		}
	}
	return out
}

// TestCheckSaysWhatTheProbeSees: `otj-edge check` says whether getSchedule answers, and
// whether it shows subjects; a room that shares free/busy only gets the Exchange command as
// advice, and a failing getSchedule is reported without failing the check (polling covers).
func TestCheckSaysWhatTheProbeSees(t *testing.T) {
	r1, r2 := roomName(1), roomName(2)
	now := time.Now().UTC().Truncate(time.Minute)
	h := newHarnessAt(t, now, graphsim.Options{}, r1, r2)
	h.in.Probe.Mode = graphconf.ProbeAuto // the config's default: on for app-only
	h.addRoom(r1, graphsim.Recommended())
	h.addRoom(r2, graphsim.Recommended())
	limited := graphsim.FreeBusyLimitedDetails
	require.NoError(t, h.sim.PatchRoom(r1, graphsim.RoomPatch{FreeBusyDetails: &limited}))
	h.post(r1, invite("Planning", now.Add(2*time.Hour), time.Hour))
	h.post(r2, invite("Review", now.Add(3*time.Hour), time.Hour))

	lines, failed := Check(t.Context(), h.in, []string{r1, r2}, nil).Lines()
	assert.Zero(t, failed)
	assert.Equal(t, []string{
		"graph/m365: change probe: ok, getSchedule answers for 2 rooms; 1 of the 2 with meetings show free/busy only (AvailabilityOnly): moves are found within seconds, subject edits at the rooms' own polls",
		`graph/m365: change probe: advice: to let the probe see subject edits too, share limited details of the room calendars: Set-MailboxFolderPermission -Identity ` + r2 + `:\Calendar -User Default -AccessRights LimitedDetails (optional)`,
	}, probeLines(lines))

	require.NoError(t, h.sim.PatchRoom(r2, graphsim.RoomPatch{FreeBusyDetails: &limited}))
	lines, _ = Check(t.Context(), h.in, []string{r1, r2}, nil).Lines()
	assert.Equal(t, []string{"graph/m365: change probe: ok, getSchedule answers for 2 rooms and shows subjects (LimitedDetails): subject edits and moves are found within seconds"}, probeLines(lines))

	_, err := h.sim.AddFault(graphsim.Fault{Kind: graphsim.FaultStatus, Status: 503, Path: "getSchedule", Count: 1})
	require.NoError(t, err)
	lines, failed = Check(t.Context(), h.in, []string{r1, r2}, nil).Lines()
	assert.Zero(t, failed, "the probe is not a requirement")
	require.Len(t, probeLines(lines), 1)
	assert.Contains(t, probeLines(lines)[0], "graph/m365: change probe: not available: getSchedule failed (Graph is unavailable (503")
	assert.Contains(t, probeLines(lines)[0], "the rooms are polled at the usual intervals instead")

	h.in.Probe.Mode = graphconf.ProbeOff
	lines, _ = Check(t.Context(), h.in, []string{r1, r2}, nil).Lines()
	assert.Empty(t, probeLines(lines))
}
