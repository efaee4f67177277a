package store

import (
	"fmt"
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
