package bookings

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Firmware is what a codec runs, as far as bookings care (README "Cisco endpoints").
type Firmware struct {
	Version     string // Status SystemUnit Software Version, e.g. "ce11.14.4.0.7e5b2c4d1f0"
	DisplayName string // e.g. "RoomOS 11.14.4.0 7e5b2c4d1f0"
	Major       int
	Minor       int
	Known       bool // the version could be read
}

var versionRE = regexp.MustCompile(`(\d+)\.(\d+)(?:\.\d+)*`)

// ParseFirmware reads a codec's version strings ("ce9.15.17.4…", "RoomOS 11.14…").
func ParseFirmware(version, displayName string) Firmware {
	fw := Firmware{Version: version, DisplayName: displayName}
	for _, s := range []string{version, displayName} {
		m := versionRE.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		fw.Major, _ = strconv.Atoi(m[1])
		fw.Minor, _ = strconv.Atoi(m[2])
		fw.Known = true
		return fw
	}
	return fw
}

// Name is how messages call the firmware: "CE 9.15" or "RoomOS 11.14".
func (f Firmware) Name() string {
	if !f.Known {
		if f.DisplayName != "" {
			return f.DisplayName
		}
		return "unknown firmware"
	}
	if f.Major <= 9 {
		return fmt.Sprintf("CE %d.%d", f.Major, f.Minor)
	}
	return fmt.Sprintf("RoomOS %d.%d", f.Major, f.Minor)
}

// Label is the version for the endpoint list and status page.
func (f Firmware) Label() string {
	if f.DisplayName != "" {
		return strings.Join(strings.Fields(f.DisplayName)[:min(2, len(strings.Fields(f.DisplayName)))], " ")
	}
	return f.Version
}

// Caps is what Bookings Put accepts on a firmware.
type Caps struct {
	WebRTC   bool // Protocol WebRTC (RoomOS 10 on; not in the CE 9.15 schema)
	Platform bool // the MeetingPlatform field (absent from CE 9.15)
	None     bool // Protocol None and MeetingPlatform None (in 26.4.1, not in 11.14)
	// CloudOnly: the schema says Put applies to Webex-registered or Edge-linked devices (CE
	// 9.15, RoomOS 10.19); an on-premises codec may refuse it.
	CloudOnly bool
	// WebSocket: xAPI over WebSocket exists (CE 9.7 on).
	WebSocket bool
}

// Caps derives what the firmware accepts. Unknown versions get RoomOS 11's rules, the most
// common today.
func (f Firmware) Caps() Caps {
	if !f.Known {
		return Caps{WebRTC: true, Platform: true, WebSocket: true}
	}
	switch {
	case f.Major < 9 || f.Major == 9 && f.Minor < 7:
		return Caps{}
	case f.Major == 9:
		return Caps{CloudOnly: true, WebSocket: true}
	case f.Major == 10:
		return Caps{WebRTC: true, Platform: true, CloudOnly: true, WebSocket: true}
	case f.Major < 26:
		return Caps{WebRTC: true, Platform: true, WebSocket: true}
	}
	return Caps{WebRTC: true, Platform: true, None: true, WebSocket: true}
}

// Limits describes, in one sentence, what the firmware cannot take that matters for every
// push ("" when nothing; meetings without a join address are reported as they occur).
func (f Firmware) Limits() string {
	c := f.Caps()
	var miss []string
	if !c.WebRTC {
		miss = append(miss, "WebRTC joins (Teams/Google Meet without a SIP address)")
	}
	if !c.Platform {
		miss = append(miss, "meeting platform icons")
	}
	if len(miss) == 0 {
		return ""
	}
	return f.Name() + " has no " + strings.Join(miss, ", no ")
}
