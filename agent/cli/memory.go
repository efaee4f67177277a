package cli

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The agent's memory after its cold start. A cold start (every room's calendar read at once,
// every codec's TLS handshake) needs about twice the heap the agent keeps afterwards; the
// runtime's background scavenger hands the freed pages back to the OS only slowly, and at
// GOGC=50 it may keep up to 10 % over the heap goal, so several megabytes of pages the heap no
// longer uses stay resident for minutes (perf.md §2: 11 MB "idle, not released" at 1,000 rooms).
// releaseIdle checks the heap's free pages every idleCheckEvery and, when more than
// idleReleaseAbove are held, returns them at once (debug.FreeOSMemory: one collection and a
// full scavenge, a few tens of milliseconds of CPU at that size). Measured figures:
// /work/notes/memory.md (README "Footprint").
const (
	idleCheckEvery   = 30 * time.Second
	idleReleaseAbove = 8 << 20
)

// idleReleaser is releaseIdle's loop with its reads and action injectable (tests).
type idleReleaser struct {
	every   time.Duration
	above   uint64
	free    func() uint64 // heap bytes free and still backed by memory
	release func()
	log     *slog.Logger
}

func releaseIdle(ctx context.Context, log *slog.Logger) {
	idleReleaser{every: idleCheckEvery, above: idleReleaseAbove, free: heapFreeBytes, release: debug.FreeOSMemory, log: log}.run(ctx)
}

func (r idleReleaser) run(ctx context.Context) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if f := r.free(); f > r.above {
				r.release()
				r.log.Debug("returned the heap's free pages to the OS", "MiB", f>>20)
			}
		}
	}
}

// heapFreeBytes is the heap's memory that is free and could go back to the OS but has not.
func heapFreeBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
