package calendar

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Protocols a join address is dialled with, in Cisco's Bookings vocabulary.
const (
	ProtocolSIP    = "SIP"
	ProtocolH323   = "H323"
	ProtocolWebRTC = "WebRTC"
	ProtocolSpark  = "Spark"
	ProtocolNone   = "None"
)

// Platforms, in Cisco's MeetingPlatform vocabulary (it drives the icon on the panel).
const (
	PlatformTeams = "MicrosoftTeams"
	PlatformZoom  = "Zoom"
	PlatformWebex = "Webex"
	PlatformMeet  = "GoogleMeet"
	PlatformOther = "Other"
)

// Meeting is one event as a room should show it, after the profile's processing settings and
// rules: the resolved meeting. Drivers (Cisco push, Poly calendar service), the status page and
// telemetry all read this and nothing else.
type Meeting struct {
	Room           string    `json:"room"`              // room mailbox, lower case
	ID             string    `json:"id"`                // stable booking id (≤128 chars): iCalUId + occurrence start
	EventID        string    `json:"eventId"`           // Graph event id of this instance
	ICalUID        string    `json:"iCalUId,omitempty"` //
	SeriesMasterID string    `json:"seriesMasterId,omitempty"`
	Start          time.Time `json:"start"` // scheduled, UTC
	End            time.Time `json:"end"`   // scheduled, UTC
	StartBuffer    Duration  `json:"startBuffer"`
	EndBuffer      Duration  `json:"endBuffer"`
	AllDay         bool      `json:"allDay,omitempty"`

	Subject        string `json:"subject"` // what the panel shows, after privacy/subject settings
	Organizer      string `json:"organizer,omitempty"`
	OrganizerEmail string `json:"organizerEmail,omitempty"`
	Private        bool   `json:"private,omitempty"`
	Tentative      bool   `json:"tentative,omitempty"`

	Join     bool   `json:"join"`               // a Join button is shown
	Number   string `json:"number,omitempty"`   // what gets dialled (SIP URI, H.323 address or URL)
	Protocol string `json:"protocol,omitempty"` // SIP, H323, WebRTC, Spark, None
	Platform string `json:"platform,omitempty"` // MicrosoftTeams, Zoom, Webex, GoogleMeet, Other
	Rule     string `json:"rule,omitempty"`     // the matched rule's name, "fallback", or ""
	Reason   string `json:"reason,omitempty"`   // why there is no Join (or a note about the match)
}

// Duration is a time.Duration that reads and writes as a Go duration string ("5m0s").
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "5m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON accepts a duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*d = Duration(n)
	return nil
}

// JoinFrom is when the Join button appears (start minus the start buffer).
func (m *Meeting) JoinFrom() time.Time { return m.Start.Add(-time.Duration(m.StartBuffer)) }

// JoinUntil is when the meeting stops being joinable (end plus the end buffer).
func (m *Meeting) JoinUntil() time.Time { return m.End.Add(time.Duration(m.EndBuffer)) }

// Hash is a digest of everything an endpoint would show; it changes when any of it changes,
// so it serves as EWS ChangeKey and as the "did this meeting change" test.
func (m *Meeting) Hash() string {
	var buf [512]byte
	b, _ := m.AppendJSON(buf[:0]) // fails only on times json.Marshal cannot write either
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}
