//go:build windows

package cli

import (
	"fmt"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/mgr"
)

// afterInstall sets the escalating recovery actions of recoveryPlan on the installed service,
// also for failures where the process exits with an error instead of crashing.
func afterInstall(name string) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("set recovery actions: %w", err)
	}
	defer m.Disconnect() //nolint:errcheck // nothing to do about it
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("set recovery actions: %w", err)
	}
	defer s.Close()
	actions := make([]mgr.RecoveryAction, len(recoveryPlan))
	for i, step := range recoveryPlan {
		actions[i] = mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: step.Delay}
	}
	if err := s.SetRecoveryActions(actions, uint32(recoveryReset.Seconds())); err != nil {
		return fmt.Errorf("set recovery actions: %w", err)
	}
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return fmt.Errorf("set recovery actions for non-crash failures: %w", err)
	}
	return nil
}

// protectedDirSDDL grants full control to SYSTEM and the Administrators group only, inherited
// by everything below, and blocks inheritance from %ProgramData% (where Users may read).
const protectedDirSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// protectDir replaces dir's access list with protectedDirSDDL; Windows applies it to the files
// already inside.
func protectDir(dir string) error {
	sd, err := windows.SecurityDescriptorFromString(protectedDirSDDL)
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	return windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
}
