//go:build unix

package store

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// withUmask runs the test under a permissive umask (process-wide: this test is not parallel,
// and Go starts parallel tests only after the sequential ones).
func withUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

func assertPrivate(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		fi, err := os.Stat(p)
		if assert.NoError(t, err, p) {
			assert.Equal(t, "-rw-------", fi.Mode().Perm().String(), "%s holds calendar data: the agent's user alone may read it", filepath.Base(p))
		}
	}
}

// TestDatabaseFilesArePrivateWhateverTheUmask: with umask 000 every file SQLite or the store
// creates would be readable by anyone on the box; the store's files stay 0600.
func TestDatabaseFilesArePrivateWhateverTheUmask(t *testing.T) {
	withUmask(t, 0)
	ctx := t.Context()

	path := filepath.Join(t.TempDir(), "otj-edge.db")
	s, err := Open(ctx, path, Options{AppVersion: "test"})
	require.NoError(t, err)
	require.NoError(t, s.Write(ctx, func(tx *Tx) error { return tx.Set("k", "v") }))
	backup := path + ".manual"
	require.NoError(t, s.Backup(ctx, backup))
	assertPrivate(t, path, path+"-wal", path+"-shm", backup)

	// A reader (the CLI while the agent runs) adds no file open to others either.
	ro, err := Open(ctx, path, Options{ReadOnly: true})
	require.NoError(t, err)
	_, _, err = ro.Endpoint(ctx, "none")
	require.NoError(t, err)
	require.NoError(t, ro.Close())
	require.NoError(t, s.Close())
	assertPrivate(t, path)

	// The backup taken before a schema upgrade, and files an older version left open, too.
	old := filepath.Join(t.TempDir(), "otj-edge.db")
	gunzip(t, fixtureV1, old)
	require.NoError(t, os.Chmod(old, 0o644))
	stale := old + ".bak-v0"
	require.NoError(t, os.WriteFile(stale, nil, 0o644))
	s, err = Open(ctx, old, Options{AppVersion: "test"})
	require.NoError(t, err)
	defer s.Close()
	assertPrivate(t, old, old+".bak-v1", stale, old+"-wal", old+"-shm")
}
