package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/store"
)

// importedSite writes the config imported from the Pexip test export, with its state in a
// temporary directory.
func importedSite(t *testing.T) (path, stateDir string) {
	dir := t.TempDir()
	path = filepath.Join(dir, "site.yaml")
	var stdout, stderr bytes.Buffer
	noEnv := func(string) (string, bool) { return "", false }
	code := Main(context.Background(), []string{"import", "pexip", "../pexipimport/testdata/export", "--out", path, "--site", "contoso-oslo"},
		IO{Stdout: &stdout, Stderr: &stderr, Env: noEnv})
	require.Equal(t, ExitOK, code, stderr.String())
	stateDir = filepath.Join(dir, "state")
	require.NoError(t, os.Mkdir(stateDir, 0o700))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, append(data, []byte("state_dir: "+stateDir+"\n")...), 0o600))
	return path, stateDir
}

// TestSetupMicrosoft365FromConfigAndStore: the script names exactly the integration's rooms,
// and Set-CalendarProcessing goes to the room whose stored diagnosis found a problem only.
func TestSetupMicrosoft365FromConfigAndStore(t *testing.T) {
	path, stateDir := importedSite(t)
	st, err := store.Open(context.Background(), filepath.Join(stateDir, "otj-edge.db"), store.Options{})
	require.NoError(t, err)
	require.NoError(t, st.Write(context.Background(), func(tx *store.Tx) error {
		for _, r := range []store.RoomState{
			{Mailbox: "room-fjord@contoso.com", Integration: "contoso-m365", Status: "ok", LastSuccess: time.Now(),
				Diagnosis: []store.Finding{{Flag: "delete_comments", Fix: "Set-CalendarProcessing -Identity room-fjord@contoso.com -DeleteComments $false"}}},
			{Mailbox: "boardroom5@contoso.com", Integration: "contoso-m365", Status: "ok", LastSuccess: time.Now()},
		} {
			if err := tx.PutRoom(r); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, st.Close())

	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), append([]string{"setup", "microsoft365", "--config", path}, args...),
			IO{Stdout: &stdout, Stderr: &stderr, Env: func(string) (string, bool) { return "", false }})
		return code, stdout.String(), stderr.String()
	}
	code, out, errOut := run()
	require.Equal(t, ExitOK, code, errOut)
	require.Contains(t, out, "$AppId = '3f1c2a9e-7b44-4d0a-9c1e-5a8b6d2e0f17'")
	for _, room := range []string{"room-fjord@contoso.com", "boardroom5@contoso.com", "huddle3a@contoso.com"} {
		require.Contains(t, out, "Test-ServicePrincipalAuthorization -Identity $AppId -Resource '"+room+"'")
	}
	require.NotContains(t, out, "havn@bergen.contoso.com", "another integration's room is not in the scope")
	require.Contains(t, out, "Set-CalendarProcessing -Identity 'room-fjord@contoso.com' -DeleteComments $false")
	require.NotContains(t, out, "Set-CalendarProcessing -Identity 'boardroom5@contoso.com'", "a healthy room is left alone")
	require.Contains(t, out, "adminconsent?client_id=3f1c2a9e-7b44-4d0a-9c1e-5a8b6d2e0f17")

	code, out, errOut = run("--all")
	require.Equal(t, ExitOK, code, errOut)
	require.Contains(t, out, "Set-CalendarProcessing -Identity 'boardroom5@contoso.com' -AutomateProcessing AutoAccept")

	code, out, errOut = run("--legacy-policy")
	require.Equal(t, ExitOK, code, errOut)
	require.Contains(t, out, "New-ApplicationAccessPolicy -AppId $AppId -PolicyScopeGroupId $Group")

	code, _, errOut = run("--ews")
	require.Equal(t, ExitUsage, code, "two ews integrations: the command asks which")
	require.Contains(t, errOut, "--integration")
	code, out, errOut = run("--ews", "--integration", "bergen-exchange-2019")
	require.Equal(t, ExitOK, code, errOut)
	require.Contains(t, out, `$Account = 'CONTOSO\svc-otj'`)
	require.Contains(t, out, "-Role ApplicationImpersonation -User $Account -CustomRecipientWriteScope $ScopeName")
	require.Contains(t, out, "PrimarySmtpAddress -eq 'havn@bergen.contoso.com'")
	require.False(t, strings.Contains(out, "room-fjord"), "only the ews integration's rooms")
}
