package main

import (
	"archive/zip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWindowsConfigRewritesLinuxPaths(t *testing.T) {
	linux, err := os.ReadFile("../config.example.yaml")
	require.NoError(t, err)
	win, err := WindowsConfig(linux)
	require.NoError(t, err)
	s := string(win)
	assert.Contains(t, s, "\n# state_dir: C:\\ProgramData\\otj-edge   (the default on Windows")
	assert.NotContains(t, s, "\nstate_dir:")
	assert.Contains(t, s, "otj-edge.exe check --offline")
	assert.Contains(t, s, `C:\ProgramData\otj-edge\ews.crt`)
	assert.NotContains(t, s, "/etc/")
	assert.Equal(t, strings.Count(string(linux), "\n"), strings.Count(s, "\n"), "line for line, so line numbers in errors match the Linux example")
}

func TestWindowsConfigRefusesAnExampleItCannotRewrite(t *testing.T) {
	_, err := WindowsConfig([]byte("site: x\nstate_dir: /srv/otj\n"))
	assert.ErrorContains(t, err, "no 'state_dir: /var/lib/otj-edge' line")
	_, err = WindowsConfig([]byte("site: x\nstate_dir: /var/lib/otj-edge\nmqtt:\n  ca_file: /usr/local/share/ca.pem\n"))
	assert.NoError(t, err, "a path outside /etc and /var/lib is the admin's business")
	_, err = WindowsConfig([]byte("site: x\nstate_dir: /var/lib/otj-edge\n# see /var/lib/other\n"))
	assert.ErrorContains(t, err, "a Linux path is left")
}

func TestBuildRefusesANonWindowsExecutable(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "otj-edge")
	require.NoError(t, os.WriteFile(exe, []byte("\x7fELF not for windows"), 0o755))
	err := build(filepath.Join(dir, "out.zip"), exe, "../config.example.yaml", "../windows/INSTALL.txt", time.Now())
	assert.ErrorContains(t, err, "is not a Windows executable")

	require.NoError(t, os.WriteFile(exe, []byte("MZ pretend"), 0o755))
	mtime := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	require.NoError(t, build(filepath.Join(dir, "out.zip"), exe, "../config.example.yaml", "../windows/INSTALL.txt", mtime))
	zr, err := zip.OpenReader(filepath.Join(dir, "out.zip"))
	require.NoError(t, err)
	defer zr.Close()
	require.Len(t, zr.File, 3)
	for _, f := range zr.File {
		assert.True(t, f.Modified.Equal(mtime), "%s has the commit's time (reproducible zips)", f.Name)
	}
}
