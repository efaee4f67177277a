package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRotatingFileKeepsWholeLinesAndALimitedHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "otj-edge.log")
	f, err := openRotatingFile(path, 100, 2)
	require.NoError(t, err)
	for i := range 12 {
		_, err := fmt.Fprintf(f, "line %02d of the log, 30 bytes\n", i) // 30 bytes each
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())

	var all []string
	for _, name := range []string{"otj-edge.log.2", "otj-edge.log.1", "otj-edge.log"} {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(path), name))
		require.NoError(t, err, name)
		assert.LessOrEqual(t, len(b), 100, "%s stays under the limit", name)
		assert.True(t, strings.HasSuffix(string(b), "\n"), "%s ends with a whole line", name)
		all = append(all, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
	}
	assert.NoFileExists(t, path+".3", "only two old files are kept")
	assert.Equal(t, "line 03 of the log, 30 bytes", all[0], "the oldest lines were dropped")
	assert.Equal(t, "line 11 of the log, 30 bytes", all[len(all)-1])
	assert.Len(t, all, 9, "nothing between the oldest kept and the newest is lost")

	// Re-opening appends to the current file (a service restart).
	f, err = openRotatingFile(path, 100, 2)
	require.NoError(t, err)
	_, err = f.Write([]byte("after restart\n"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = f.Write([]byte("x\n"))
	assert.ErrorIs(t, err, os.ErrClosed)
}
