package ciscosim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Status SystemUnit Uptime counts whole seconds of the simulator clock from the codec's start
// (UpFor earlier) and starts again at a reboot: how a driver that is not connected all the
// time tells that a codec restarted (and so lost its bookings) since it last looked.
func TestUptimeCountsFromBootAndRestartsAtReboot(t *testing.T) {
	f, clk := newFleet(t)
	c := addCodec(t, f, CodecConfig{UpFor: 3 * time.Hour})
	uptime := func() int64 {
		t.Helper()
		return int64(login(t, c, "admin").result("xGet", map[string]any{"Path": []any{"Status", "SystemUnit", "Uptime"}}).(float64))
	}
	assert.Equal(t, int64(3*3600), uptime())
	clk.Set(clk.Now().Add(90*time.Second + 500*time.Millisecond))
	assert.Equal(t, int64(3*3600+90), uptime(), "whole seconds")

	c.Reboot(RebootOptions{Down: time.Nanosecond}) // down time is wall clock: over at once
	assert.Equal(t, int64(0), uptime())
	clk.Set(clk.Now().Add(42 * time.Second))
	assert.Equal(t, int64(42), uptime())
}
