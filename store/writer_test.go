package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The writer tests hold the writer goroutine in a first write, queue others behind it
// (synctest.Wait: every caller is blocked on its answer), and let it go: what was queued
// runs as one batch.

// batchHarness opens a store inside a synctest bubble with its writer held by a first write
// (which sets "first" and then returns firstErr).
type batchHarness struct {
	t       *testing.T
	s       *Store
	release chan struct{}
	first   chan error
	wg      sync.WaitGroup
}

func holdWriter(t *testing.T, opts Options, firstErr error) *batchHarness {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "otj-edge.db"), opts)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	h := &batchHarness{t: t, s: s, release: make(chan struct{}), first: make(chan error, 1)}
	go func() {
		h.first <- s.Write(context.Background(), func(tx *Tx) error {
			<-h.release
			if err := tx.Set("first", "1"); err != nil {
				return err
			}
			tx.Changed("test", "first")
			return firstErr
		})
	}()
	synctest.Wait()
	return h
}

// queue starts a Write of fn in a goroutine of its own; its answer arrives on the channel.
func (h *batchHarness) queue(ctx context.Context, fn func(*Tx) error) <-chan error {
	out := make(chan error, 1)
	h.wg.Go(func() { out <- h.s.Write(ctx, fn) })
	return out
}

// set is a write that stores key and announces it, then returns err.
func set(key string, err error) func(*Tx) error {
	return func(tx *Tx) error {
		if e := tx.Set(key, "1"); e != nil {
			return e
		}
		tx.Changed("test", key)
		return err
	}
}

func (h *batchHarness) run() {
	synctest.Wait()
	close(h.release)
	h.wg.Wait()
}

func (h *batchHarness) stored(key string) bool {
	_, ok, err := h.s.Get(context.Background(), key)
	require.NoError(h.t, err)
	return ok
}

func TestQueuedWritesCommitTogetherAndAFailureUndoesOnlyItsOwn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := holdWriter(t, Options{}, nil)
		sub := h.s.Subscribe("test")
		before := h.s.wr.commits.Load()
		a := h.queue(t.Context(), set("a", nil))
		synctest.Wait() // a before b: a is not the batch's first after the held write
		bad := errors.New("room-7: no such calendar")
		b := h.queue(t.Context(), set("b", bad))
		synctest.Wait()
		c := h.queue(t.Context(), set("c", nil))
		h.run()

		require.NoError(t, <-h.first)
		require.NoError(t, <-a)
		assert.ErrorIs(t, <-b, bad, "the failing write's own error reaches its caller")
		require.NoError(t, <-c)
		assert.Equal(t, int64(1), h.s.wr.commits.Load()-before, "one commit for the held write and the three behind it")
		assert.True(t, h.stored("first"))
		assert.True(t, h.stored("a"))
		assert.False(t, h.stored("b"), "the failed write is rolled back")
		assert.True(t, h.stored("c"), "a write after a failed one in the same batch is kept")
		assert.Equal(t, []string{"a", "c", "first"}, sub.Take(), "only committed writes are announced")
	})
}

func TestAFailingFirstWriteDoesNotTakeTheQueuedOnesWithIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bad := errors.New("first fails")
		h := holdWriter(t, Options{}, bad)
		a := h.queue(t.Context(), set("a", nil))
		h.run()
		assert.ErrorIs(t, <-h.first, bad)
		require.NoError(t, <-a)
		assert.False(t, h.stored("first"))
		assert.True(t, h.stored("a"))
	})
}

func TestAPanickingWritePanicsInItsCallerAndTheOthersCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := holdWriter(t, Options{}, nil)
		recovered := make(chan any, 1)
		h.wg.Go(func() {
			defer func() { recovered <- recover() }()
			_ = h.s.Write(t.Context(), func(tx *Tx) error {
				if err := tx.Set("p", "1"); err != nil {
					return err
				}
				panic("boom")
			})
		})
		synctest.Wait()
		a := h.queue(t.Context(), set("a", nil))
		h.run()
		require.NoError(t, <-h.first)
		require.NoError(t, <-a)
		p := <-recovered
		require.NotNil(t, p, "the caller panics")
		assert.Contains(t, fmt.Sprint(p), "boom")
		assert.False(t, h.stored("p"))
		assert.True(t, h.stored("a"))
		require.NoError(t, h.s.Write(t.Context(), set("after", nil)), "the writer goes on")
	})
}

func TestAWriteWhoseCallerGaveUpNeverRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := holdWriter(t, Options{}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		ran := false
		gaveUp := h.queue(ctx, func(tx *Tx) error { ran = true; return tx.Set("late", "1") })
		synctest.Wait()
		cancel()
		assert.ErrorIs(t, <-gaveUp, context.Canceled, "the caller hears at once that nothing was written")
		h.run()
		require.NoError(t, <-h.first)
		assert.False(t, ran)
		assert.False(t, h.stored("late"))
	})
}

func TestAWriteRunningWhenItsCallerGivesUpIsAnsweredAsItEnded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := Open(t.Context(), filepath.Join(t.TempDir(), "otj-edge.db"), Options{})
		require.NoError(t, err)
		defer s.Close()
		ctx, cancel := context.WithCancel(t.Context())
		err = s.Write(ctx, func(tx *Tx) error {
			cancel() // the caller gives up while its function runs
			return tx.Set("k", "1")
		})
		require.NoError(t, err, "the write committed, so its caller is told so")
		_, ok, err := s.Get(t.Context(), "k")
		require.NoError(t, err)
		assert.True(t, ok)
	})
}

func TestTheOutboxCapsHoldWithinABatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := holdWriter(t, Options{Outbox: OutboxLimits{MaxMessages: 2, MaxBytes: 1 << 20}}, nil)
		var answers []<-chan error
		for i := range 4 {
			answers = append(answers, h.queue(t.Context(), func(tx *Tx) error {
				_, err := tx.Enqueue(Message{Topic: "events", Payload: fmt.Appendf(nil, `{"n":%d}`, i)})
				return err
			}))
			synctest.Wait() // queued in order
		}
		h.run()
		require.NoError(t, <-h.first)
		for _, a := range answers {
			require.NoError(t, <-a)
		}
		st, err := h.s.OutboxStats(t.Context())
		require.NoError(t, err)
		assert.Equal(t, int64(2), st.Depth, "four messages queued in one batch, two kept")
		assert.Equal(t, int64(2), st.Dropped)
		msgs, err := h.s.PeekOutbox(t.Context(), 10)
		require.NoError(t, err)
		require.Len(t, msgs, 2)
		assert.JSONEq(t, `{"n":2}`, string(msgs[0].Payload), "the newest are kept")
	})
}

// A write that leaves SQLite's transaction rolled back (as a full disk or an I/O error can)
// must not let the batch's earlier writes be reported as committed.
func TestAWriteThatLosesTheTransactionFailsTheWholeBatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{{"and fails", errors.New("disk full")}, {"and says nothing", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := holdWriter(t, Options{}, nil)
				a := h.queue(t.Context(), set("a", nil))
				synctest.Wait()
				lost := h.queue(t.Context(), func(tx *Tx) error {
					if _, err := tx.exec("ROLLBACK"); err != nil {
						return err
					}
					return tc.err
				})
				synctest.Wait()
				c := h.queue(t.Context(), set("c", nil))
				h.run()
				assert.Error(t, <-h.first, "the held write was rolled back with the transaction")
				assert.Error(t, <-a)
				assert.Error(t, <-lost)
				assert.False(t, h.stored("first"))
				assert.False(t, h.stored("a"))
				require.NoError(t, <-c, "a write behind the lost one runs in a transaction of its own")
				assert.True(t, h.stored("c"))
				require.NoError(t, h.s.Write(t.Context(), set("after", nil)), "the writer goes on")
				assert.True(t, h.stored("after"))
			})
		})
	}
}

func TestAWriteFunctionThatEndsItsGoroutineFailsAndTheWriterGoesOn(t *testing.T) {
	s, _ := openTemp(t, Options{})
	err := s.Write(t.Context(), func(tx *Tx) error {
		if err := tx.Set("k", "1"); err != nil {
			return err
		}
		runtime.Goexit() // what a test's require does inside a write function
		return nil
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Goexit")
	_, ok, err := s.Get(t.Context(), "k")
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, s.Write(t.Context(), func(tx *Tx) error { return tx.Set("k2", "1") }))
}

func TestWritesAfterCloseFailAndSayWhy(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "otj-edge.db"), Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	err = s.Write(t.Context(), func(tx *Tx) error { return tx.Set("k", "1") })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "store is closed")
}
