package packaging_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pkgVersion(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("sh", append([]string{"pkgversion.sh"}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestPackageVersionFromGitDescribe(t *testing.T) {
	for describe, want := range map[string]string{
		"v1.2.3":                       "1.2.3",
		"1.2.3":                        "1.2.3",
		"v1.2.3-rc.1":                  "1.2.3~rc.1",
		"v1.2.3-4-gabc1234":            "1.2.3+git4.abc1234",
		"v1.2.3-rc.1-4-gabc1234-dirty": "1.2.3~rc.1+git4.abc1234.dirty",
		"v1.2.3-dirty":                 "1.2.3+dirty",
		"abc1234":                      "0.0.0+git17.abc1234",
		"abc1234-dirty":                "0.0.0+git17.abc1234.dirty",
		"dev":                          "0.0.0+dev",
	} {
		got, err := pkgVersion(t, describe, "17")
		require.NoError(t, err, describe)
		assert.Equal(t, want, got, describe)
		assert.NotContains(t, got, "-", "rpm versions cannot hold '-'")
	}
	out, err := pkgVersion(t, "release-candidate", "1")
	assert.Error(t, err)
	assert.Contains(t, out, "cannot make a package version from 'release-candidate' (tag releases as vMAJOR.MINOR.PATCH)")
}

// TestPackageVersionsUpgradeInOrder checks the mapping against dpkg's own ordering: each
// version must upgrade the one before. (RPM's rpmvercmp agrees: "~" sorts before anything, and
// extra "+"-separated parts sort after none.)
func TestPackageVersionsUpgradeInOrder(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg not installed")
	}
	order := []string{"abc1234", "v0.9.0", "v1.0.0-rc.1", "v1.0.0-rc.2", "v1.0.0", "v1.0.0-3-gabc1234", "v1.0.0-12-gdef5678", "v1.0.1"}
	commits := []string{"5", "", "", "", "", "", "", ""}
	var versions []string
	for i, d := range order {
		v, err := pkgVersion(t, d, commits[i])
		require.NoError(t, err)
		versions = append(versions, v)
	}
	for i := 1; i < len(versions); i++ {
		err := exec.Command("dpkg", "--compare-versions", versions[i], "gt", versions[i-1]).Run()
		assert.NoError(t, err, "%s (from %s) upgrades %s (from %s)", versions[i], order[i], versions[i-1], order[i-1])
	}
}
