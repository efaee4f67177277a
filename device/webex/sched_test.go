package webex

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/simulators/goroutines"
	"github.com/otj-edge/otj-edge/simulators/webexsim"
)

// driverGoroutines counts the goroutines running this package's code (the test's own aside).
func driverGoroutines() int { return goroutines.Parked("otj-edge/device/webex.", "webex.Test") }

// Forty Webex devices are served by the manager's scheduler, not by a goroutine each (a stack
// of 8 KB and more per device for as long as the agent ran), and each still gets its own
// pushes on time: every device's first push, a change of one room pushed after the debounce
// without touching the others, and the safety re-push of every device.
func TestOneSchedulerServesEveryWebexDevice(t *testing.T) {
	const n = 40
	h := newHarness(t, webexsim.Options{Profile: ciscosim.RoomOS11})
	var eps []Endpoint
	ids := map[string]string{}
	for i := range n {
		room := fmt.Sprintf("room-%02d@contoso.example", i)
		id, ep := h.device(fmt.Sprintf("wx-%02d", i), room, webexsim.DeviceConfig{})
		ids[ep.Name] = id
		eps = append(eps, ep)
	}
	h.rooms(eps)
	for _, ep := range eps {
		h.meetings(ep.Room, meetingsAt(ep.Room, testStart.Add(time.Hour), 2)...)
	}
	h.start(eps, func(o *Options) { o.SafetyInterval = time.Hour })
	g := driverGoroutines()
	t.Logf("%d devices: %d goroutines in the driver once settled", n, g)
	assert.LessOrEqual(t, g, 2, "the scheduler and the connection's status round; not a goroutine per device")

	puts := func(name string) int {
		p, err := h.sim.Puts(ids[name])
		require.NoError(t, err)
		return len(p)
	}
	for _, ep := range eps {
		require.Equal(t, 1, puts(ep.Name), "%s: its first push", ep.Name)
	}
	h.meetings(eps[7].Room, meetingsAt(eps[7].Room, testStart.Add(2*time.Hour), 3)...)
	h.advance(time.Second)
	assert.Equal(t, 1, puts(eps[7].Name), "pushed before the debounce ran out")
	h.advance(2 * time.Second)
	assert.Equal(t, 2, puts(eps[7].Name), "the changed room is pushed after the debounce")
	assert.Equal(t, 1, puts(eps[8].Name), "an unchanged room is not pushed")
	h.advance(time.Hour)
	for _, ep := range eps {
		want := 2
		if ep.Name == eps[7].Name {
			want = 3
		}
		assert.Equal(t, want, puts(ep.Name), "%s: the safety re-push", ep.Name)
	}
}
