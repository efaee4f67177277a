package harness

import (
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smapsSample is three mappings of a /proc/<pid>/smaps (Linux 6.x, lines trimmed): the program
// file's text, an anonymous heap arena and [stack].
const smapsSample = `00400000-01152000 r-xp 00000000 fd:01 1234567                            /tmp/otj-bench-bin-1/otj-edge
Size:              13640 kB
Rss:               12936 kB
Referenced:         5436 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me sd
44898c00000-4489d800000 rw-p 00000000 00:00 0 
Size:              77824 kB
Rss:               54984 kB
Referenced:        47336 kB
Anonymous:         54984 kB
VmFlags: rd wr mr mw me ac sd
7ffc3752c000-7ffc3754d000 rw-p 00000000 00:00 0                          [stack]
Size:                132 kB
Rss:                  16 kB
Referenced:           12 kB
VmFlags: rd wr mr mw me gd ac
`

func TestParseTouchedSplitsByMapping(t *testing.T) {
	got, err := parseTouched([]byte(smapsSample))
	require.NoError(t, err)
	assert.Equal(t, Touched{AnonBytes: (47336 + 12) << 10, FileBytes: 5436 << 10}, got)

	for name, bad := range map[string]string{
		"no mapping":             "",
		"a figure before a head": "Referenced:  12 kB\n",
		"not in kB":              "00400000-01152000 r-xp 00000000 fd:01 1 /x\nReferenced: 12 pages\n",
		"a cut header":           "00400000-01152000 r-xp\n",
	} {
		_, err := parseTouched([]byte(bad))
		assert.Error(t, err, name)
	}
}

// TestTouchedOfThisProcess: on this test's own process, memory touched before ClearRefs does
// not count, memory touched after it does.
func TestTouchedOfThisProcess(t *testing.T) {
	before := make([]byte, 64<<20)
	touch(before)
	require.NoError(t, ClearRefs(os.Getpid()))
	after := make([]byte, 4<<20)
	touch(after)
	got, err := ReadTouched(os.Getpid())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, got.AnonBytes, int64(4<<20), "the pages written after ClearRefs were touched")
	assert.Less(t, got.AnonBytes, int64(64<<20), "the 64 MiB written before it were not")
	assert.Positive(t, got.FileBytes, "the test binary's code ran")
	runtime.KeepAlive(before)
}

func touch(b []byte) {
	for i := 0; i < len(b); i += 512 {
		b[i] = 1
	}
}
