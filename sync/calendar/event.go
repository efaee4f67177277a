// Package calendar holds the calendar data model shared by the sources that fill the store
// (sync/graph), the meeting processor (sync/rules), the store and the endpoint drivers.
//
// Event mirrors a Microsoft Graph event's JSON (README "Calendar sync (Microsoft Graph)"), so an event fetched
// from Graph, stored in SQLite, posted to the simulator or pasted into `otj-edge rules test`
// is the same document. Meeting is what the processor makes of an Event for one room.
package calendar

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Event types as Graph names them.
const (
	TypeSingleInstance = "singleInstance"
	TypeOccurrence     = "occurrence"
	TypeException      = "exception"
	TypeSeriesMaster   = "seriesMaster"
)

// Event is a Microsoft Graph calendar event (the subset of fields OTJ needs, with Graph's JSON
// names). Unknown fields are dropped when decoding.
type Event struct {
	ID                    string             `json:"id"`
	Type                  string             `json:"type,omitempty"`
	SeriesMasterID        string             `json:"seriesMasterId,omitempty"`
	ICalUID               string             `json:"iCalUId,omitempty"`
	ChangeKey             string             `json:"changeKey,omitempty"`
	LastModified          string             `json:"lastModifiedDateTime,omitempty"`
	Subject               string             `json:"subject,omitempty"`
	BodyPreview           string             `json:"bodyPreview,omitempty"`
	Body                  *ItemBody          `json:"body,omitempty"`
	Start                 *DateTimeTimeZone  `json:"start,omitempty"`
	End                   *DateTimeTimeZone  `json:"end,omitempty"`
	IsAllDay              bool               `json:"isAllDay,omitempty"`
	IsCancelled           bool               `json:"isCancelled,omitempty"`
	ShowAs                string             `json:"showAs,omitempty"`
	Sensitivity           string             `json:"sensitivity,omitempty"`
	Organizer             *Recipient         `json:"organizer,omitempty"`
	Attendees             []Attendee         `json:"attendees,omitempty"`
	Location              *Location          `json:"location,omitempty"`
	Locations             []Location         `json:"locations,omitempty"`
	IsOnlineMeeting       bool               `json:"isOnlineMeeting,omitempty"`
	OnlineMeetingProvider string             `json:"onlineMeetingProvider,omitempty"`
	OnlineMeeting         *OnlineMeetingInfo `json:"onlineMeeting,omitempty"`
	OnlineMeetingURL      string             `json:"onlineMeetingUrl,omitempty"`
	ResponseStatus        *ResponseStatus    `json:"responseStatus,omitempty"`
	IsOrganizer           bool               `json:"isOrganizer,omitempty"`
	Recurrence            json.RawMessage    `json:"recurrence,omitempty"`
	Removed               *Removed           `json:"@removed,omitempty"`
}

// ItemBody is an event body; ContentType is "html" or "text".
type ItemBody struct {
	ContentType string `json:"contentType,omitempty"`
	Content     string `json:"content"`
}

// DateTimeTimeZone is Graph's local date-time plus zone name.
type DateTimeTimeZone struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone,omitempty"`
}

// EmailAddress is a display name and SMTP address.
type EmailAddress struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address,omitempty"`
}

// Recipient wraps an EmailAddress, as Graph's organizer does.
type Recipient struct {
	EmailAddress EmailAddress `json:"emailAddress"`
}

// Attendee is one invitee; Type is required, optional or resource (rooms).
type Attendee struct {
	Type         string          `json:"type,omitempty"`
	Status       *ResponseStatus `json:"status,omitempty"`
	EmailAddress EmailAddress    `json:"emailAddress"`
}

// ResponseStatus is an attendee's (or the mailbox owner's) answer.
type ResponseStatus struct {
	Response string `json:"response,omitempty"`
	Time     string `json:"time,omitempty"`
}

// Location is where the meeting is; for rooms LocationEmailAddress names the mailbox.
type Location struct {
	DisplayName          string `json:"displayName,omitempty"`
	LocationEmailAddress string `json:"locationEmailAddress,omitempty"`
	LocationType         string `json:"locationType,omitempty"`
	LocationURI          string `json:"locationUri,omitempty"`
	UniqueID             string `json:"uniqueId,omitempty"`
	UniqueIDType         string `json:"uniqueIdType,omitempty"`
}

// OnlineMeetingInfo carries the online meeting details Graph fills for Teams meetings.
type OnlineMeetingInfo struct {
	JoinURL         string   `json:"joinUrl,omitempty"`
	ConferenceID    string   `json:"conferenceId,omitempty"`
	TollNumber      string   `json:"tollNumber,omitempty"`
	TollFreeNumbers []string `json:"tollFreeNumbers,omitempty"`
	QuickDial       string   `json:"quickDial,omitempty"`
}

// Removed marks a delta entry that left the calendar view.
type Removed struct {
	Reason string `json:"reason,omitempty"`
}

// StartTime is the event start in UTC, or an error naming what is wrong with it.
func (e *Event) StartTime() (time.Time, error) {
	if e.Start == nil {
		return time.Time{}, fmt.Errorf("event %q has no start", e.ID)
	}
	return e.Start.Time()
}

// EndTime is the event end in UTC, or an error naming what is wrong with it.
func (e *Event) EndTime() (time.Time, error) {
	if e.End == nil {
		return time.Time{}, fmt.Errorf("event %q has no end", e.ID)
	}
	return e.End.Time()
}

// BodyText is the body content ("" when there is none).
func (e *Event) BodyText() string {
	if e.Body == nil {
		return ""
	}
	return e.Body.Content
}

// OrganizerName is the organizer's display name, or address when the name is empty.
func (e *Event) OrganizerName() string {
	if e.Organizer == nil {
		return ""
	}
	if n := strings.TrimSpace(e.Organizer.EmailAddress.Name); n != "" {
		return n
	}
	return e.Organizer.EmailAddress.Address
}

// OrganizerAddress is the organizer's SMTP address ("" when unknown).
func (e *Event) OrganizerAddress() string {
	if e.Organizer == nil {
		return ""
	}
	return e.Organizer.EmailAddress.Address
}

// IsPrivate reports whether the organizer marked the meeting private or confidential.
func (e *Event) IsPrivate() bool {
	return strings.EqualFold(e.Sensitivity, "private") || strings.EqualFold(e.Sensitivity, "confidential")
}

// LocationText joins every location display name and URI, for address extraction.
func (e *Event) LocationText() string {
	var parts []string
	seen := map[string]bool{}
	add := func(s string) {
		s = strings.TrimSpace(s)
		if s != "" && !seen[s] {
			seen[s] = true
			parts = append(parts, s)
		}
	}
	if e.Location != nil {
		add(e.Location.DisplayName)
		add(e.Location.LocationURI)
	}
	for _, l := range e.Locations {
		add(l.DisplayName)
		add(l.LocationURI)
	}
	return strings.Join(parts, "\n")
}

// graphTimeLayouts are the forms Graph uses for DateTimeTimeZone.dateTime (seven fractional
// digits, sometimes fewer, sometimes with an offset).
var graphTimeLayouts = []string{
	"2006-01-02T15:04:05.9999999",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	time.RFC3339Nano,
}

// Time converts the value to UTC. Zones may be "UTC", IANA names or the Windows names Outlook
// uses (a common subset is mapped; see windowsZones).
func (d DateTimeTimeZone) Time() (time.Time, error) {
	s := strings.TrimSpace(d.DateTime)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty dateTime")
	}
	loc, err := zone(d.TimeZone)
	if err != nil {
		return time.Time{}, err
	}
	for _, layout := range graphTimeLayouts {
		var t time.Time
		var perr error
		if layout == time.RFC3339Nano {
			t, perr = time.Parse(layout, s)
		} else {
			t, perr = time.ParseInLocation(layout, s, loc)
		}
		if perr == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("dateTime %q is not an ISO 8601 date-time", s)
}

// FromTime renders t the way Graph does with Prefer: outlook.timezone="UTC".
func FromTime(t time.Time) *DateTimeTimeZone {
	return &DateTimeTimeZone{DateTime: t.UTC().Format("2006-01-02T15:04:05.0000000"), TimeZone: "UTC"}
}

func zone(name string) (*time.Location, error) {
	switch strings.TrimSpace(name) {
	case "", "UTC", "Etc/UTC", "tzone://Microsoft/Utc", "Coordinated Universal Time", "GMT":
		return time.UTC, nil
	}
	if iana, ok := windowsZones[name]; ok {
		name = iana
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return loc, nil
}

// windowsZones maps the Windows zone names Outlook writes most often to IANA names (from the
// CLDR windowsZones table, "001" territory).
var windowsZones = map[string]string{
	"GMT Standard Time":               "Europe/London",
	"Greenwich Standard Time":         "Atlantic/Reykjavik",
	"W. Europe Standard Time":         "Europe/Berlin",
	"Romance Standard Time":           "Europe/Paris",
	"Central Europe Standard Time":    "Europe/Budapest",
	"Central European Standard Time":  "Europe/Warsaw",
	"E. Europe Standard Time":         "Europe/Chisinau",
	"FLE Standard Time":               "Europe/Kiev",
	"GTB Standard Time":               "Europe/Bucharest",
	"Russian Standard Time":           "Europe/Moscow",
	"Eastern Standard Time":           "America/New_York",
	"Central Standard Time":           "America/Chicago",
	"Mountain Standard Time":          "America/Denver",
	"US Mountain Standard Time":       "America/Phoenix",
	"Pacific Standard Time":           "America/Los_Angeles",
	"Alaskan Standard Time":           "America/Anchorage",
	"Hawaiian Standard Time":          "Pacific/Honolulu",
	"Atlantic Standard Time":          "America/Halifax",
	"SA Pacific Standard Time":        "America/Bogota",
	"E. South America Standard Time":  "America/Sao_Paulo",
	"India Standard Time":             "Asia/Calcutta",
	"China Standard Time":             "Asia/Shanghai",
	"Tokyo Standard Time":             "Asia/Tokyo",
	"Singapore Standard Time":         "Asia/Singapore",
	"AUS Eastern Standard Time":       "Australia/Sydney",
	"New Zealand Standard Time":       "Pacific/Auckland",
	"Arabian Standard Time":           "Asia/Dubai",
	"South Africa Standard Time":      "Africa/Johannesburg",
	"Israel Standard Time":            "Asia/Jerusalem",
	"Korea Standard Time":             "Asia/Seoul",
	"Cen. Australia Standard Time":    "Australia/Adelaide",
	"W. Australia Standard Time":      "Australia/Perth",
	"Canada Central Standard Time":    "America/Regina",
	"Central America Standard Time":   "America/Guatemala",
	"Argentina Standard Time":         "America/Buenos_Aires",
	"Turkey Standard Time":            "Europe/Istanbul",
	"Egypt Standard Time":             "Africa/Cairo",
	"Morocco Standard Time":           "Africa/Casablanca",
	"Mexico Standard Time":            "America/Mexico_City",
	"Central Standard Time (Mexico)":  "America/Mexico_City",
	"Pacific Standard Time (Mexico)":  "America/Tijuana",
	"Newfoundland Standard Time":      "America/St_Johns",
	"SE Asia Standard Time":           "Asia/Bangkok",
	"Taipei Standard Time":            "Asia/Taipei",
	"North Asia East Standard Time":   "Asia/Irkutsk",
	"Pakistan Standard Time":          "Asia/Karachi",
	"Bangladesh Standard Time":        "Asia/Dhaka",
	"W. Central Africa Standard Time": "Africa/Lagos",
}
