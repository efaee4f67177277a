package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestImportPexipThenCheckOffline: the command writes a config from the test export, and
// check --offline passes on it once the secrets the report names are set.
func TestImportPexipThenCheckOffline(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "site.yaml")
	var stdout, stderr bytes.Buffer
	noEnv := func(string) (string, bool) { return "", false }
	code := Main(context.Background(), []string{"import", "pexip", "../pexipimport/testdata/export", "--out", out, "--site", "contoso-oslo"},
		IO{Stdout: &stdout, Stderr: &stderr, Env: noEnv})
	require.Equal(t, ExitOK, code, stderr.String())
	require.Contains(t, stderr.String(), "No equivalent in otj-edge")
	require.Contains(t, stderr.String(), "The written config loads")
	st, err := os.Stat(out)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	secrets := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^  - (OTJ_[A-Z0-9_]+)$`).FindAllStringSubmatch(stderr.String(), -1) {
		secrets[m[1]] = "a-long-enough-secret-" + m[1]
	}
	require.NotEmpty(t, secrets)
	// The Google deployment's key: the report names the file, the admin saves it beside the config.
	keys := regexp.MustCompile(`(?m)^  - ([a-z0-9.-]+-key\.json) `).FindAllStringSubmatch(stderr.String(), -1)
	require.Len(t, keys, 1, "the report names the Google service account key file")
	key := `{"type": "service_account", "client_email": "otj-rooms@contoso-otj.iam.gserviceaccount.com", "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, keys[0][1]), []byte(key), 0o600))
	env := func(k string) (string, bool) { v, ok := secrets[k]; return v, ok }
	stdout.Reset()
	stderr.Reset()
	code = Main(context.Background(), []string{"check", "--offline", "--config", out}, IO{Stdout: &stdout, Stderr: &stderr, Env: env})
	require.Equal(t, ExitOK, code, "check --offline on the imported config:\n%s%s", stdout.String(), stderr.String())
	require.Contains(t, stdout.String(), "config ok")
	written, err := os.ReadFile(out)
	require.NoError(t, err)
	for _, live := range []string{"\n    type: google\n", "\nwebex:\n", "\n    type: webex\n", "\n        type: gotomeeting\n", "\n        type: s4b\n", "\n        type: pexipservice\n"} {
		require.Contains(t, string(written), live, "written live and accepted by check --offline")
	}

	// Never overwrite a config without --force.
	stderr.Reset()
	code = Main(context.Background(), []string{"import", "pexip", "../pexipimport/testdata/export", "--out", out}, IO{Stdout: &stdout, Stderr: &stderr, Env: noEnv})
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr.String(), "--force")
}
