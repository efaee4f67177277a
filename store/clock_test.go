package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLastWriteIsTheNewestRecordedTime(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s, err := Open(ctx, t.TempDir()+"/otj-edge.db", Options{Now: func() time.Time { return now }})
	require.NoError(t, err)
	defer s.Close()

	got, err := s.LastWrite(ctx)
	require.NoError(t, err)
	assert.Equal(t, now, got, "the migration is recorded with the clock of the time")

	// A later event log entry moves it on; a meeting far in the future does not count.
	now = now.Add(90 * time.Minute)
	require.NoError(t, s.Write(ctx, func(tx *Tx) error {
		return tx.Emit(Event{Kind: "test", Level: "info", Message: "hello"})
	}))
	got, err = s.LastWrite(ctx)
	require.NoError(t, err)
	assert.Equal(t, now, got)
}
