//go:build !windows && (!unix || aix)

package cli

import "os"

// Platforms without flock or LockFileEx (none otj-edge ships for) run without the lock.
func tryLock(*os.File) error { return nil }

func unlock(*os.File) error { return nil }
