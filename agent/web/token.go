package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// TokenFileName is the action token's file in the state directory.
const TokenFileName = "api.token"

// TokenPath is where the agent writes its action token for a state directory.
func TokenPath(stateDir string) string { return filepath.Join(stateDir, TokenFileName) }

// TokenHeader carries the action token on API requests.
const TokenHeader = "X-Otj-Token"

func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return hex.EncodeToString(b)
}

// writeToken writes the token to path with mode 0600, atomically, so a reader never sees a
// half-written file.
func writeToken(path, token string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write action token: %w", err)
	}
	f, err := os.CreateTemp(dir, ".api.token-*")
	if err != nil {
		return fmt.Errorf("write action token: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(0o600); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		f.Close()
		return fmt.Errorf("write action token: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write action token: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write action token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write action token: %w", err)
	}
	return nil
}

// removeToken deletes the token file if it still holds this server's token (another agent
// started on the same state dir may have replaced it).
func removeToken(path, token string) {
	if got, err := ReadToken(path); err == nil && got == token {
		_ = os.Remove(path)
	}
}

// ReadToken reads the action token the running agent wrote.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return t, nil
}
