package ciscosim

import "strings"

// Profile is a firmware release as far as bookings are concerned: what Status SystemUnit
// Software reports, which Protocol and MeetingPlatform values Bookings Put accepts, and the
// release-specific refusals (README "Cisco endpoints").
type Profile struct {
	Name        string // profile key: ce9.15, roomos11, roomos26, roomos26-mtr
	Version     string // Status SystemUnit Software Version
	DisplayName string // Status SystemUnit Software DisplayName
	// Protocols are the Bookings Put Protocol values the schema knows.
	Protocols []string
	// Platforms are the MeetingPlatform values; nil means the field does not exist (CE 9.15),
	// so a booking that carries it is refused.
	Platforms []string
	// PutNeedsCloud: "This command applies to devices that are either registered to the Webex
	// cloud service or … linked to Webex Edge for Devices" (CE 9.15, RoomOS 10.19). Whether an
	// on-premises codec really refuses Put is unconfirmed; the simulator refuses it when the
	// codec is configured as not cloud-registered.
	PutNeedsCloud bool
	// TeamsRooms: the device runs Microsoft Teams Rooms (RoomOS 26 "MTR mode"): Bookings Put
	// and Clear are unavailable (unavailableStates MicrosoftTeamsInstalled;MicrosoftTeamsInCall).
	TeamsRooms bool
}

// The firmware profiles the simulator knows.
var (
	CE915 = Profile{
		Name:          "ce9.15",
		Version:       "ce9.15.17.4.5a3e2f11b54",
		DisplayName:   "CE 9.15.17.4 5a3e2f11b54 2023-08-14",
		Protocols:     []string{"SIP", "H323", "ISDN", "IP", "Spark"},
		Platforms:     nil,
		PutNeedsCloud: true,
	}
	RoomOS11 = Profile{
		Name:        "roomos11",
		Version:     "ce11.14.4.0.7e5b2c4d1f0",
		DisplayName: "RoomOS 11.14.4.0 7e5b2c4d1f0",
		Protocols:   []string{"SIP", "H323", "ISDN", "IP", "Spark", "WebRTC"},
		Platforms:   []string{"GoogleMeet", "MicrosoftTeams", "Zoom", "Webex", "Other"},
	}
	RoomOS26 = Profile{
		Name:        "roomos26",
		Version:     "ce26.4.1.2.c81f09a6a35",
		DisplayName: "RoomOS 26.4.1.2 c81f09a6a35",
		Protocols:   []string{"SIP", "H323", "ISDN", "IP", "Spark", "WebRTC", "None"},
		Platforms:   []string{"GoogleMeet", "MicrosoftTeams", "Zoom", "Webex", "Other", "None"},
	}
	RoomOS26MTR = func() Profile {
		p := RoomOS26
		p.Name = "roomos26-mtr"
		p.TeamsRooms = true
		return p
	}()
)

// Profiles lists every profile by name.
var Profiles = map[string]Profile{
	CE915.Name:       CE915,
	RoomOS11.Name:    RoomOS11,
	RoomOS26.Name:    RoomOS26,
	RoomOS26MTR.Name: RoomOS26MTR,
}

// ProfileNames are the profile keys, for messages.
func ProfileNames() string { return "ce9.15, roomos11, roomos26, roomos26-mtr" }

func (p Profile) hasProtocol(v string) bool { return containsFold(p.Protocols, v) }
func (p Profile) hasPlatform(v string) bool { return containsFold(p.Platforms, v) }

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}
