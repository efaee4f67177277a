package store

import (
	"context"
	"fmt"
	"runtime/metrics"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Reads and writes reuse prepared statements, and a reused statement never serves a stale
// snapshot: each read sees the last committed write, from any reader connection.
func TestPreparedStatementsAreReusedAndSeeEveryCommit(t *testing.T) {
	s, _ := openTemp(t, Options{Readers: 2})
	ctx := t.Context()
	for i := range 20 {
		want := fmt.Sprintf("v%d", i)
		require.NoError(t, s.Write(ctx, func(tx *Tx) error {
			if _, err := tx.Add("counter", 1); err != nil {
				return err
			}
			return tx.Set("key", want)
		}))
		got, ok, err := s.Get(ctx, "key")
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, want, got, "read after write %d", i)
		n, err := s.Counter(ctx, "counter")
		require.NoError(t, err)
		assert.EqualValues(t, i+1, n)
	}
	s.stmts.mu.Lock()
	cached := len(s.stmts.m)
	s.stmts.mu.Unlock()
	assert.Positive(t, cached, "statements are kept for reuse")

	require.NoError(t, s.Close())
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	assert.Empty(t, s.stmts.m, "Close closes the cached statements")
}

// A failed transaction leaves nothing behind and the statement it used still works.
func TestPreparedStatementAfterRollback(t *testing.T) {
	s, _ := openTemp(t, Options{})
	ctx := t.Context()
	require.Error(t, s.Write(ctx, func(tx *Tx) error {
		if err := tx.Set("key", "lost"); err != nil {
			return err
		}
		return fmt.Errorf("give up")
	}))
	_, ok, err := s.Get(ctx, "key")
	require.NoError(t, err)
	assert.False(t, ok, "rolled back")
	require.NoError(t, s.Write(ctx, func(tx *Tx) error { return tx.Set("key", "kept") }))
	got, _, err := s.Get(ctx, "key")
	require.NoError(t, err)
	assert.Equal(t, "kept", got)
}

// The store's reads start no goroutines of their own on a context that can end (database/sql
// watches the rows and the driver the statement, one goroutine each): at a cold start hundreds
// of them at once waited for a core to end on, and the runtime keeps a record of each for good.
// A read asked for after its context ended is refused without reading.
func TestReadsStartNoGoroutinesAndAreRefusedOnAnEndedContext(t *testing.T) {
	s, _ := openTemp(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	require.NoError(t, s.Write(ctx, func(tx *Tx) error { return tx.Set("key", "v") }))
	created := func() uint64 {
		m := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
		metrics.Read(m)
		return m[0].Value.Uint64()
	}
	before := created()
	for range 100 {
		got, ok, err := s.Get(ctx, "key")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, "v", got)
		endpoints, err := s.Endpoints(ctx)
		require.NoError(t, err)
		require.Empty(t, endpoints)
	}
	// Two hundred reads; a few goroutines of the runtime's or the pool's own may start meanwhile.
	assert.Less(t, created()-before, uint64(20), "goroutines started while the store read 200 times")

	cancel()
	_, _, err := s.Get(ctx, "key")
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.Endpoints(ctx)
	require.ErrorIs(t, err, context.Canceled)
}
