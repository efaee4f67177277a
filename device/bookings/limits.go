package bookings

import (
	"strings"
	"unicode/utf8"
)

// Caps on the free text pushed to a codec. A meeting's subject and organizer come from anyone
// who can send the room an invite; unbounded, a 10,000-character subject goes into every Put
// (a booking list is re-sent in full on each change), into the driver's memory per codec, and
// onto a panel that shows a line or two. RoomOS declares its xAPI text parameters with a
// length, 255 characters for names and titles (e.g. Call Forward DisplayName, String 0-255), so
// titles and names are cut to that, at a character boundary, with "…" to show the cut.
// Join addresses are not cut: a shortened address dials the wrong place (a meeting whose
// address the codec cannot take is skipped with the reason instead). Ids are already kept to
// 128 characters (BookingID).
const (
	MaxTitle     = 255 // Booking Title, in characters
	MaxName      = 255 // Organizer.Name, in characters
	MaxEmailSize = 254 // Organizer.Email: RFC 5321's limit; a longer one is no address and is left out
)

// CapText cuts s to at most max characters (runes), ending a cut text with "…".
func CapText(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return strings.TrimRight(s[:i], " \t") + "…"
		}
		n++
	}
	return s
}

// CapEmail keeps an address that can be one.
func CapEmail(s string) string {
	if len(s) > MaxEmailSize {
		return ""
	}
	return s
}
