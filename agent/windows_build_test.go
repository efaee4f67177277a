package agent

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWindowsBuild cross-compiles otj-edge.exe and vets the Windows-only service code (recovery
// actions, directory access lists), which no test can run off Windows. The flags match make's
// release build, so the compiled packages are shared with `make dist` through the build cache.
func TestWindowsBuild(t *testing.T) {
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is needed to cross-compile")
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	env := append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")

	exe := filepath.Join(t.TempDir(), "otj-edge.exe")
	build := exec.Command(goBin, "build", "-trimpath", "-o", exe, "./cmd/otj-edge")
	build.Dir, build.Env = root, env
	out, err := build.CombinedOutput()
	require.NoError(t, err, "GOOS=windows go build:\n%s", out)
	head := make([]byte, 2)
	f, err := os.Open(exe)
	require.NoError(t, err)
	_, err = f.Read(head)
	f.Close()
	require.NoError(t, err)
	assert.Equal(t, []byte("MZ"), head, "a Windows executable")

	vet := exec.Command(goBin, "vet", "./agent/...", "./packaging/...", "./cmd/...")
	vet.Dir, vet.Env = root, env
	var vout bytes.Buffer
	vet.Stdout, vet.Stderr = &vout, &vout
	require.NoError(t, vet.Run(), "GOOS=windows go vet:\n%s", vout.String())
}
