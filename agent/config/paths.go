package config

import "os"

// programData is %ProgramData% (C:\ProgramData when unset, as on every Windows install).
func programData() string {
	if p := os.Getenv("ProgramData"); p != "" {
		return p
	}
	return `C:\ProgramData`
}
