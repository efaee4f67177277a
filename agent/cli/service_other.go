//go:build !windows

package cli

// afterInstall has nothing to add outside Windows: the systemd unit carries the restart policy.
func afterInstall(string) error { return nil }

// protectDir is Windows-only (prepareWindowsDirs); elsewhere the directory's mode is enough.
func protectDir(string) error { return nil }
