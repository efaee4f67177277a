// Package packaging holds what installs otj-edge: the systemd unit (embedded here, so a hand
// install through `otj-edge service install` gets the same sandbox as the packages), the nfpm
// config and maintainer scripts for the .deb and .rpm, and the Windows zip's contents.
package packaging

import _ "embed"

// SystemdUnit is otj-edge.service as the .deb and .rpm install it.
//
//go:embed otj-edge.service
var SystemdUnit string

// Paths the packages install to (and the unit names).
const (
	UnitExec   = "/usr/bin/otj-edge"
	UnitConfig = "/etc/otj-edge/config.yaml"
	StateDir   = "/var/lib/otj-edge"
	User       = "otj-edge"
)
