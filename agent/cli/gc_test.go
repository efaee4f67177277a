package cli

import (
	"log/slog"
	"math"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTuneGCDefaultsToFiftyUnlessGOGCIsSet(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want int
	}{
		{"unset", map[string]string{}, defaultGCPercent},
		{"empty", map[string]string{"GOGC": ""}, defaultGCPercent},
		{"operator's choice", map[string]string{"GOGC": "200"}, 100}, // the runtime applied it at start
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			tuneGC(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }, log)
			assert.Equal(t, tc.want, debug.SetGCPercent(100))
		})
	}
}

func TestTuneGCSetsASoftMemoryLimitUnlessGOMEMLIMITIsSet(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	gc := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetMemoryLimit(before); debug.SetGCPercent(gc) })
	log := slog.New(slog.DiscardHandler)
	const noLimit = math.MaxInt64
	for _, tc := range []struct {
		name string
		env  map[string]string
		want int64
	}{
		{"unset (a Windows service, a container)", map[string]string{}, defaultMemoryLimit},
		{"empty", map[string]string{"GOMEMLIMIT": ""}, defaultMemoryLimit},
		{"operator's choice", map[string]string{"GOMEMLIMIT": "800MiB"}, noLimit}, // the runtime applied it at start
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(noLimit)
			tuneGC(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }, log)
			assert.Equal(t, tc.want, debug.SetMemoryLimit(-1))
		})
	}
}
