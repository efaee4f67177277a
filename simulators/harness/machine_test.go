package harness

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Steal is the stolen share of all the CPUs' ticks between two readings, guest time not
// counted twice; a line that is not /proc/stat's is an error that says what was expected.
func TestStealPercentOfTwoReadings(t *testing.T) {
	a, err := parseMachineCPU("cpu  147750 0 31617 423574 4189 0 1507 1904 0 0")
	require.NoError(t, err)
	assert.Equal(t, MachineCPU{Busy: 147750 + 31617 + 1507, Idle: 423574 + 4189, Steal: 1904}, a)
	// 1,000 ticks later: 600 busy (50 of them guest, inside user), 300 idle, 100 stolen.
	b, err := parseMachineCPU("cpu  148300 0 31667 423874 4189 0 1507 2004 50 0")
	require.NoError(t, err)
	p, err := StealPercent(a, b)
	require.NoError(t, err)
	assert.InDelta(t, 10.0, p, 1e-9)

	old, err := parseMachineCPU("cpu 10 0 10 80 0 0 0") // before steal was counted
	require.NoError(t, err)
	assert.Zero(t, old.Steal)
	_, err = StealPercent(b, a)
	assert.ErrorContains(t, err, "did not advance")
	_, err = parseMachineCPU("intr 1 2 3")
	assert.ErrorContains(t, err, `want a first line "cpu user nice system`)
	_, err = parseMachineCPU("cpu 1 2 x 4 5 6 7 8")
	assert.ErrorContains(t, err, "column 3")
}

// On this machine (Linux, as the bench runs) /proc/stat reads.
func TestReadMachineCPU(t *testing.T) {
	a, err := ReadMachineCPU()
	require.NoError(t, err)
	assert.Positive(t, a.Busy+a.Idle)
}
