//go:build windows

package cli

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockRegion is the byte range locked: far past anything written, because Windows locks are
// mandatory and a locked range could not be read by the second agent wanting to name the
// holder. Locking past the end of a file is allowed.
var lockRegion = windows.Overlapped{Offset: 0, OffsetHigh: 0x7fffffff}

// tryLock takes an exclusive LockFileEx lock on f without waiting; the lock belongs to this
// handle, and Windows releases it when the process ends.
func tryLock(f *os.File) error {
	ol := lockRegion
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return errLockHeld
	}
	return err
}

func unlock(f *os.File) error {
	ol := lockRegion
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}
