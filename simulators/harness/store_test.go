package harness

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/store"
)

// TestCheckStoreReadsWhatTheAgentLeft: a store with events, some delivered (acknowledged) and
// some still queued, is reported as sound, with every event ever emitted counted and the
// queued ids listed; a damaged file is not reported as sound.
func TestCheckStoreReadsWhatTheAgentLeft(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "otj-edge.db")
	st, err := store.Open(ctx, path, store.Options{Outbox: store.OutboxLimits{MaxMessages: 3}})
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, st.Write(ctx, func(tx *store.Tx) error {
			return tx.Emit(store.Event{Kind: "test", Message: "event " + string(rune('a'+i))})
		}))
	}
	queued, err := st.PeekOutbox(ctx, 10)
	require.NoError(t, err)
	require.Len(t, queued, 3, "the cap dropped the two oldest")
	require.NoError(t, st.AckOutbox(ctx, queued[0].Seq))
	require.NoError(t, st.Close())

	c, err := CheckStore(ctx, path)
	require.NoError(t, err)
	assert.Equal(t, "ok", c.Integrity)
	assert.Equal(t, int64(5), c.EventsEmitted)
	assert.Equal(t, int64(2), c.Dropped)
	assert.Equal(t, int64(2), c.Queued)
	assert.Equal(t, []string{queued[1].ID, queued[2].ID}, c.QueuedEvents)

	// Overwrite a page in the middle of the file: the check must not say "ok".
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Greater(t, len(b), 3*4096)
	for i := 4096 + 100; i < 2*4096; i++ {
		b[i] = 0xA5
	}
	require.NoError(t, os.WriteFile(path, b, 0o644))
	c, err = CheckStore(ctx, path)
	if err == nil {
		assert.NotEqual(t, "ok", c.Integrity)
	}
}
