package cli

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

// Free pages above the threshold go back to the OS at the next check, pages below it stay (a
// collection and scavenge are not free), and the loop ends with its context.
func TestReleaseIdleReturnsFreePagesAboveTheThresholdOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var free atomic.Uint64
		var released atomic.Int32
		r := idleReleaser{every: 30 * time.Second, above: 8 << 20, log: slog.New(slog.DiscardHandler),
			free: free.Load, release: func() { released.Add(1); free.Store(0) }}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { r.run(ctx); close(done) }()

		free.Store(4 << 20)
		time.Sleep(31 * time.Second)
		synctest.Wait()
		assert.Zero(t, released.Load(), "4 MiB free: kept")

		free.Store(40 << 20) // after a cold start
		time.Sleep(30 * time.Second)
		synctest.Wait()
		assert.EqualValues(t, 1, released.Load(), "40 MiB free: returned at the next check")
		assert.Zero(t, free.Load())

		time.Sleep(5 * time.Minute)
		synctest.Wait()
		assert.EqualValues(t, 1, released.Load(), "nothing free since: nothing more to do")

		cancel()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("the loop outlived its context")
		}
	})
}

// heapFreeBytes sees the pages a dropped allocation leaves, and FreeOSMemory takes them.
func TestHeapFreeBytesSeesWhatFreeOSMemoryReturns(t *testing.T) {
	b := make([]byte, 64<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1 // backed by memory
	}
	runtime.KeepAlive(b)
	b = nil
	debug.FreeOSMemory()
	assert.Less(t, heapFreeBytes(), uint64(idleReleaseAbove), "after FreeOSMemory, little is free and still resident")
}
