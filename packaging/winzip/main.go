// Command winzip builds the otj-edge Windows zip: otj-edge.exe, the example config turned into
// its Windows form, and the install guide, with CRLF line endings so Notepad on older Windows
// Server shows them properly. `make windows-zip` runs it.
package main

import (
	"archive/zip"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func main() {
	exe := flag.String("exe", "", "the Windows otj-edge.exe")
	cfg := flag.String("config", "packaging/config.example.yaml", "the example config (Linux form)")
	guide := flag.String("guide", "packaging/windows/INSTALL.txt", "the install guide")
	out := flag.String("out", "", "the zip to write")
	flag.Parse()
	if *exe == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: winzip -exe otj-edge.exe -out otj-edge.zip [-config FILE] [-guide FILE]")
		os.Exit(2)
	}
	if err := build(*out, *exe, *cfg, *guide, modTime()); err != nil {
		fmt.Fprintln(os.Stderr, "winzip:", err)
		os.Exit(1)
	}
}

// modTime is the commit time when make passes SOURCE_DATE_EPOCH (reproducible zips), else now.
func modTime() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Now().UTC()
}

func build(out, exe, cfgPath, guidePath string, mtime time.Time) error {
	bin, err := os.ReadFile(exe)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(bin, []byte("MZ")) {
		return fmt.Errorf("%s is not a Windows executable", exe)
	}
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	winCfg, err := WindowsConfig(cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", cfgPath, err)
	}
	guide, err := os.ReadFile(guidePath)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode os.FileMode
		data []byte
	}{
		{"otj-edge.exe", 0o755, bin},
		{"config.example.yaml", 0o644, CRLF(winCfg)},
		{"INSTALL.txt", 0o644, CRLF(guide)},
	} {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: mtime}
		h.SetMode(f.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := w.Write(f.data); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

var linuxAndWindows = regexp.MustCompile(`(?m)^# Linux: .*Windows: (.*)$`)

const (
	linuxStateDir   = "\nstate_dir: /var/lib/otj-edge\n"
	windowsStateDir = "\n# state_dir: C:\\ProgramData\\otj-edge   (the default on Windows; keep it unless you must move it)\n"
)

// WindowsConfig turns the Linux example config into the Windows one: the state directory is
// left to its Windows default (%ProgramData%\otj-edge) and the example paths in comments point
// at C:\ProgramData\otj-edge. It fails when the example no longer has the line it rewrites, so
// a change there cannot silently ship a Linux path to Windows.
func WindowsConfig(linux []byte) ([]byte, error) {
	s := strings.ReplaceAll(string(linux), "\r\n", "\n")
	if !strings.Contains(s, linuxStateDir) {
		return nil, errors.New("no 'state_dir: /var/lib/otj-edge' line to rewrite for Windows")
	}
	s = strings.Replace(s, linuxStateDir, windowsStateDir, 1)
	s = linuxAndWindows.ReplaceAllString(s, "# Windows: $1")
	s = strings.ReplaceAll(s, "otj-edge check --offline --config /etc/otj-edge/config.yaml", `otj-edge.exe check --offline`)
	s = strings.ReplaceAll(s, "/etc/otj-edge/", `C:\ProgramData\otj-edge\`)
	s = strings.ReplaceAll(s, "Default: /var/lib/otj-edge (Windows: %ProgramData%\\otj-edge)", `Default: %ProgramData%\otj-edge`)
	s = strings.ReplaceAll(s, " (chmod 600; one line)", " (one line)")
	if strings.Contains(s, "/var/lib/") || strings.Contains(s, "/etc/") {
		return nil, errors.New("a Linux path is left after rewriting for Windows")
	}
	return []byte(s), nil
}

// CRLF converts LF line endings to CRLF (existing CRLFs are kept).
func CRLF(b []byte) []byte {
	return []byte(strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n", "\r\n"))
}
