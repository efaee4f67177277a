package packaging_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// The package tests build the packages once per test run with `make package`, exactly as a
// release does, into a temporary dist directory: v1.0.0 for every target, and v1.1.0 (.deb for
// this machine only) to upgrade to. The Go build cache makes rebuilds a matter of linking.
const (
	oldVersion = "v1.0.0"
	newVersion = "v1.1.0"
)

type builtPackages struct {
	root string            // holds old/ and new/
	old  string            // dist directory of oldVersion
	new  string            // dist directory of newVersion
	deb  map[string]string // GOARCH → .deb of oldVersion
	rpm  map[string]string // GOARCH → .rpm of oldVersion
	zip  string            // the Windows zip of oldVersion
	// newDeb is the newVersion .deb for this machine's architecture.
	newDeb string
}

var (
	buildOnce sync.Once
	built     *builtPackages
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// repoRoot is the repository's top directory (tests run in packaging/).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	return root
}

// packages builds the packages on first use and returns where they are.
func packages(t *testing.T) *builtPackages {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is needed to build the packages (.ci/run installs it): %v", err)
	}
	root := repoRoot(t)
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "otj-edge-packages-")
		if buildErr != nil {
			return
		}
		b := &builtPackages{root: buildDir, old: filepath.Join(buildDir, "old"), new: filepath.Join(buildDir, "new"),
			deb: map[string]string{}, rpm: map[string]string{}}
		if buildErr = makePackage(root, b.old, oldVersion, "package"); buildErr != nil {
			return
		}
		if buildErr = makePackage(root, b.new, newVersion, "package-linux", "PKG_ARCHS="+runtime.GOARCH, "PKG_FORMATS=deb"); buildErr != nil {
			return
		}
		for _, arch := range []string{"amd64", "arm64"} {
			b.deb[arch] = filepath.Join(b.old, fmt.Sprintf("otj-edge_1.0.0-1_%s.deb", arch))
			b.rpm[arch] = filepath.Join(b.old, fmt.Sprintf("otj-edge-1.0.0-1.%s.rpm", rpmArch(arch)))
		}
		b.zip = filepath.Join(b.old, "otj-edge_1.0.0_windows_amd64.zip")
		b.newDeb = filepath.Join(b.new, fmt.Sprintf("otj-edge_1.1.0-1_%s.deb", runtime.GOARCH))
		built = b
	})
	require.NoError(t, buildErr, "make package")
	return built
}

func makePackage(root, dist, version, target string, vars ...string) error {
	args := append([]string{"-C", root, target, "DIST=" + dist, "VERSION=" + version, "COMMIT=test"}, vars...)
	cmd := exec.Command("make", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("make %s VERSION=%s: %v\n%s", target, version, err, out)
	}
	return nil
}

func rpmArch(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return goarch
}
