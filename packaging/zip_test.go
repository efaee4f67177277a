package packaging_test

import (
	"archive/zip"
	"bytes"
	"debug/pe"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
)

func TestWindowsZip(t *testing.T) {
	p := packages(t)
	zr, err := zip.OpenReader(p.zip)
	require.NoError(t, err)
	defer zr.Close()
	files := map[string][]byte{}
	var names []string
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		rc.Close()
		require.NoError(t, err)
		files[f.Name] = b
		names = append(names, f.Name)
	}
	assert.Equal(t, []string{"otj-edge.exe", "config.example.yaml", "INSTALL.txt"}, names)

	exe, err := pe.NewFile(bytes.NewReader(files["otj-edge.exe"]))
	require.NoError(t, err)
	assert.Equal(t, uint16(pe.IMAGE_FILE_MACHINE_AMD64), exe.Machine)
	assert.True(t, bytes.Contains(files["otj-edge.exe"], []byte("v1.0.0")), "the version is stamped")

	cfgText := string(files["config.example.yaml"])
	guide := string(files["INSTALL.txt"])
	for name, text := range map[string]string{"config.example.yaml": cfgText, "INSTALL.txt": guide} {
		assert.Equal(t, strings.Count(text, "\n"), strings.Count(text, "\r\n"), "%s has CRLF line endings (Notepad on Server 2016)", name)
	}
	assert.NotContains(t, cfgText, "/etc/")
	assert.NotContains(t, cfgText, "/var/lib")
	assert.Contains(t, cfgText, `C:\ProgramData\otj-edge\graph.secret`)
	cfg, err := config.Parse(`C:\ProgramData\otj-edge\config.yaml`, []byte(cfgText), config.Options{LookupEnv: func(string) (string, bool) { return "x-secret", true }})
	require.NoError(t, err, "the Windows example config is valid")
	assert.False(t, cfg.Pos.Has("state_dir"), "state_dir is left to its Windows default, %%ProgramData%%\\otj-edge")

	for _, want := range []string{
		`C:\Program Files\otj-edge`, `%ProgramData%\otj-edge\config.yaml`,
		`.\otj-edge.exe check --offline`, `.\otj-edge.exe service install`, `.\otj-edge.exe service start`,
		"Automatic (Delayed Start)", "(5 s)", "(30 s)", "(2 min)", "sc.exe qfailure otj-edge",
		"Event Viewer", `C:\ProgramData\otj-edge\logs\otj-edge.log`, "otj-edge.db.bak-v<N>",
		"database written by a newer otj-edge", "w32tm", `.\otj-edge.exe service uninstall`,
	} {
		assert.Contains(t, guide, want)
	}
}
