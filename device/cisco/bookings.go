package cisco

import (
	"time"

	"github.com/otj-edge/otj-edge/device/bookings"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// The Bookings Put document and the firmware rules behind it live in device/bookings, shared
// with the Webex cloud driver (which pushes the same document through Webex's cloud xAPI).
// These names keep this package's API and callers (the bench, the tests) as they were.

type (
	Booking     = bookings.Booking
	Organizer   = bookings.Organizer
	BookingTime = bookings.BookingTime
	Skip        = bookings.Skip
	Payload     = bookings.Payload
	Firmware    = bookings.Firmware
	Caps        = bookings.Caps
)

const (
	MaxIDLength  = bookings.MaxIDLength
	MaxTitle     = bookings.MaxTitle
	MaxName      = bookings.MaxName
	MaxEmailSize = bookings.MaxEmailSize
)

// BuildPayload is bookings.BuildPayload.
func BuildPayload(meetings []calendar.Meeting, fw Firmware) Payload {
	return bookings.BuildPayload(meetings, fw)
}

// ParseFirmware is bookings.ParseFirmware.
func ParseFirmware(version, displayName string) Firmware {
	return bookings.ParseFirmware(version, displayName)
}

// BookingID is bookings.BookingID.
func BookingID(id string) string { return bookings.BookingID(id) }

// Window is bookings.Window.
func Window(now time.Time, loc *time.Location, past time.Duration, days int) (from, to time.Time) {
	return bookings.Window(now, loc, past, days)
}

// NextMidnight is bookings.NextMidnight.
func NextMidnight(now time.Time, loc *time.Location) time.Time {
	return bookings.NextMidnight(now, loc)
}

func capText(s string, max int) string { return bookings.CapText(s, max) }
