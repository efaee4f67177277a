package tokenvault

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// walk returns every file under dir with its bytes.
func walk(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = b
		return err
	}))
	return out
}

func TestPutGetDeleteAndModes(t *testing.T) {
	dir := t.TempDir()
	v := New(dir)
	_, _, err := v.Get("graph-m365")
	require.ErrorIs(t, err, ErrNotFound)
	stamp, err := v.Put("graph-m365", []byte("refresh-token-1"))
	require.NoError(t, err)
	got, s2, err := v.Get("graph-m365")
	require.NoError(t, err)
	require.Equal(t, "refresh-token-1", string(got))
	require.Equal(t, stamp, s2)
	cur, err := v.Current("graph-m365")
	require.NoError(t, err)
	require.Equal(t, stamp, cur)

	stamp2, err := v.Put("graph-m365", []byte("refresh-token-2"))
	require.NoError(t, err)
	require.NotEqual(t, stamp, stamp2, "every write is a new version")

	if runtime.GOOS != "windows" {
		for _, p := range []string{v.KeyPath(), v.Path("graph-m365")} {
			fi, err := os.Stat(p)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), p)
		}
		fi, err := os.Stat(filepath.Dir(v.Path("graph-m365")))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	}
	ok, err := v.Delete("graph-m365")
	require.NoError(t, err)
	require.True(t, ok)
	_, _, err = v.Get("graph-m365")
	require.ErrorIs(t, err, ErrNotFound)
	cur, err = v.Current("graph-m365")
	require.NoError(t, err)
	require.Empty(t, cur)
}

// The token's bytes appear nowhere in the state directory, and without the key file the sealed
// file does not open; another box's key does not open it either.
func TestUnreadableWithoutTheKey(t *testing.T) {
	dir := t.TempDir()
	v := New(dir)
	secret := []byte("0.AAAA-very-secret-refresh-token-value-XYZ")
	_, err := v.Put("graph-m365", secret)
	require.NoError(t, err)
	for p, b := range walk(t, dir) {
		require.False(t, bytes.Contains(b, secret), "%s holds the token in clear", p)
		require.False(t, bytes.Contains(b, secret[10:30]), "%s holds part of the token in clear", p)
	}
	// The key apart: the sealed file alone, copied elsewhere, does not open.
	other := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(other, "tokens"), 0o700))
	sealed, err := os.ReadFile(v.Path("graph-m365"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(New(other).Path("graph-m365"), sealed, 0o600))
	_, _, err = New(other).Get("graph-m365")
	require.ErrorContains(t, err, "key file")
	// With another key: refused, not garbage.
	_, err = New(other).Put("unrelated", []byte("x"))
	require.NoError(t, err)
	_, _, err = New(other).Get("graph-m365")
	require.ErrorContains(t, err, "does not open")
	// Renamed to another name: refused (the name is bound in).
	require.NoError(t, os.WriteFile(v.Path("graph-other"), sealed, 0o600))
	_, _, err = v.Get("graph-other")
	require.ErrorContains(t, err, "does not open")
}

func TestOddNamesStayInTheDirectory(t *testing.T) {
	dir := t.TempDir()
	v := New(dir)
	_, err := v.Put("../../etc/passwd", []byte("x"))
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "tokens"), filepath.Dir(v.Path("../../etc/passwd")))
	got, _, err := v.Get("../../etc/passwd")
	require.NoError(t, err)
	require.Equal(t, "x", string(got))
	_, err = os.Stat(filepath.Join(dir, "..", "..", "etc", "passwd.sealed"))
	require.True(t, errors.Is(err, fs.ErrNotExist))
}
