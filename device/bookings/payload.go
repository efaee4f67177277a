package bookings

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// Booking is one entry of the Bookings Put document (schema 26.4.1, README "Cisco endpoints"
// §2.3). Field order is fixed, so the same meetings always serialise to the same bytes.
type Booking struct {
	ID              string      `json:"Id"`
	Title           string      `json:"Title"`
	Privacy         string      `json:"Privacy"`
	Organizer       Organizer   `json:"Organizer"`
	Time            BookingTime `json:"Time"`
	Number          string      `json:"Number"`
	Protocol        string      `json:"Protocol"`
	MeetingPlatform string      `json:"MeetingPlatform,omitempty"`
	CallType        string      `json:"CallType,omitempty"`
}

// Organizer of a booking.
type Organizer struct {
	Name  string `json:"Name"`
	Email string `json:"Email,omitempty"`
}

// BookingTime: StartTime in UTC, Duration in minutes, buffers in seconds.
type BookingTime struct {
	StartTime       string `json:"StartTime"`
	Duration        int    `json:"Duration"`
	StartTimeBuffer int    `json:"StartTimeBuffer"`
	EndTimeBuffer   int    `json:"EndTimeBuffer"`
}

// Skip is a meeting in the window that the codec's firmware cannot take.
type Skip struct {
	ID      string
	Subject string
	Start   time.Time
	Reason  string
	// LostJoin: the meeting had a join address the codec cannot dial (it loses its Join
	// button), as opposed to a meeting without one that the panel merely cannot list.
	LostJoin bool
}

// Payload is what gets pushed to one codec.
type Payload struct {
	Body     []byte // the Bookings Put JSON document
	Hash     string // SHA-256 of Body, hex
	Bookings []Booking
	Skipped  []Skip
}

// IDs are the pushed booking ids.
func (p Payload) IDs() []string {
	out := make([]string, len(p.Bookings))
	for i, b := range p.Bookings {
		out[i] = b.ID
	}
	return out
}

// MaxIDLength is the longest Id Bookings Get/Delete accept.
const MaxIDLength = 128

// BookingID is the meeting's stable id, hashed when it is too long for the codec.
func BookingID(id string) string {
	if len(id) <= MaxIDLength {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "otj-" + hex.EncodeToString(sum[:])
}

// BuildPayload turns a room's resolved meetings into the Bookings Put document for a codec
// with firmware fw: sorted by start then id, serialised deterministically. Meetings the
// firmware cannot take are left out and listed in Skipped with the reason.
func BuildPayload(meetings []calendar.Meeting, fw Firmware) Payload {
	caps := fw.Caps()
	ms := append([]calendar.Meeting(nil), meetings...)
	sort.SliceStable(ms, func(i, j int) bool {
		if !ms[i].Start.Equal(ms[j].Start) {
			return ms[i].Start.Before(ms[j].Start)
		}
		return ms[i].ID < ms[j].ID
	})
	var p Payload
	seen := map[string]bool{}
	for i := range ms {
		m := &ms[i]
		b, reason := toBooking(m, fw, caps)
		if reason == "" && seen[b.ID] {
			reason = "its id repeats another meeting's"
		}
		if reason != "" {
			p.Skipped = append(p.Skipped, Skip{ID: m.ID, Subject: m.Subject, Start: m.Start, Reason: reason, LostJoin: m.Join && m.Number != ""})
			continue
		}
		seen[b.ID] = true
		p.Bookings = append(p.Bookings, b)
	}
	if p.Bookings == nil {
		p.Bookings = []Booking{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct { // plain strings and ints always encode
		Bookings []Booking `json:"Bookings"`
	}{p.Bookings})
	p.Body = bytes.TrimRight(buf.Bytes(), "\n")
	sum := sha256.Sum256(p.Body)
	p.Hash = hex.EncodeToString(sum[:])
	return p
}

// toBooking maps one meeting, or says why the firmware cannot take it.
func toBooking(m *calendar.Meeting, fw Firmware, caps Caps) (Booking, string) {
	b := Booking{
		ID:        BookingID(m.ID),
		Title:     CapText(title(m), MaxTitle),
		Privacy:   "Public",
		Organizer: Organizer{Name: CapText(organizer(m), MaxName), Email: CapEmail(m.OrganizerEmail)},
		Time: BookingTime{
			StartTime:       m.Start.UTC().Format("2006-01-02T15:04:05Z"),
			Duration:        durationMinutes(m.Start, m.End),
			StartTimeBuffer: int(time.Duration(m.StartBuffer) / time.Second),
			EndTimeBuffer:   int(time.Duration(m.EndBuffer) / time.Second),
		},
	}
	if m.Private {
		b.Privacy = "Private"
	}
	if m.ID == "" {
		return b, "it has no id"
	}
	protocol := m.Protocol
	if m.Join && m.Number != "" && protocol == "" {
		protocol = guessProtocol(m.Number)
	}
	if !m.Join || m.Number == "" || strings.EqualFold(protocol, calendar.ProtocolNone) {
		if !caps.None {
			return b, fmt.Sprintf("it has no join address, and %s cannot show a booking without a Join button (Protocol None needs RoomOS 26)", fw.Name())
		}
		b.Protocol = calendar.ProtocolNone
		if caps.Platform {
			b.MeetingPlatform = platformOr(m.Platform, "None")
		}
		return b, ""
	}
	b.Number = m.Number
	b.CallType = "Video"
	switch strings.ToLower(protocol) {
	case "sip":
		b.Protocol = calendar.ProtocolSIP
	case "h323":
		b.Protocol = calendar.ProtocolH323
	case "spark":
		b.Protocol = calendar.ProtocolSpark
	case "webrtc":
		b.Protocol = calendar.ProtocolWebRTC
		if !caps.WebRTC {
			return b, fmt.Sprintf("its only join address is a WebRTC link (%s), which %s cannot dial: add a SIP (CVI) address to the invite or upgrade the codec to RoomOS 11", platformName(m.Platform), fw.Name())
		}
		if m.Platform != calendar.PlatformTeams && m.Platform != calendar.PlatformMeet {
			return b, fmt.Sprintf("a WebRTC join works only for Microsoft Teams and Google Meet, not %s", platformName(m.Platform))
		}
	default:
		return b, fmt.Sprintf("protocol %q is not one the codec knows", protocol)
	}
	if caps.Platform {
		b.MeetingPlatform = platformOr(m.Platform, calendar.PlatformOther)
	}
	return b, ""
}

func platformOr(p, def string) string {
	switch p {
	case calendar.PlatformTeams, calendar.PlatformZoom, calendar.PlatformWebex, calendar.PlatformMeet, calendar.PlatformOther:
		return p
	}
	return def
}

func platformName(p string) string {
	switch p {
	case calendar.PlatformTeams:
		return "Microsoft Teams"
	case calendar.PlatformMeet:
		return "Google Meet"
	case "":
		return "unknown platform"
	}
	return p
}

func guessProtocol(number string) string {
	n := strings.ToLower(number)
	switch {
	case strings.HasPrefix(n, "https://"):
		return calendar.ProtocolWebRTC
	case strings.HasPrefix(n, "h323:") || strings.Contains(n, "##"):
		return calendar.ProtocolH323
	}
	return calendar.ProtocolSIP
}

func title(m *calendar.Meeting) string {
	if s := strings.TrimSpace(m.Subject); s != "" {
		return s
	}
	if s := organizer(m); s != "Unknown organizer" {
		return s
	}
	return "Booked"
}

func organizer(m *calendar.Meeting) string {
	if s := strings.TrimSpace(m.Organizer); s != "" {
		return s
	}
	if s := strings.TrimSpace(m.OrganizerEmail); s != "" {
		return s
	}
	return "Unknown organizer"
}

func durationMinutes(start, end time.Time) int {
	d := end.Sub(start)
	if d <= 0 {
		return 1
	}
	return int((d + time.Minute - 1) / time.Minute)
}

// Window is the span of meetings pushed at now: from now-past to the end of the day days
// after today, in loc.
func Window(now time.Time, loc *time.Location, past time.Duration, days int) (from, to time.Time) {
	ln := now.In(loc)
	return now.Add(-past), time.Date(ln.Year(), ln.Month(), ln.Day()+days+1, 0, 0, 0, 0, loc)
}

// NextMidnight is the next local midnight after now.
func NextMidnight(now time.Time, loc *time.Location) time.Time {
	ln := now.In(loc)
	return time.Date(ln.Year(), ln.Month(), ln.Day()+1, 0, 0, 0, 0, loc)
}

// DefaultMidnightSpread is how long after its skew a site's midnight pushes are spread over.
const DefaultMidnightSpread = 10 * time.Minute

// MidnightPush is when an endpoint's push for the day's roll is due after now: skew after
// the next local midnight, plus the endpoint's own offset in [0, spread) (clock.SpreadOffset of
// its name, stable across restarts). With one skew for all, a site's endpoints were due in the
// same second: at 1,000 codecs, 1,000 connections and TLS handshakes at once, and every
// Webex device against one rate limit, whose Retry-After then holds back any edit. Over ten
// minutes they come under two a second, and the day that enters the window at midnight is
// still more than 24 hours away.
func MidnightPush(now time.Time, loc *time.Location, skew, spread time.Duration, name string) time.Time {
	return NextMidnight(now, loc).Add(skew + clock.SpreadOffset(name, spread))
}
