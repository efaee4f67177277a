package sourcetest

import (
	"fmt"
	"time"
)

// TeamsURL is the join link of the table's invites.
const TeamsURL = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0"

// Invite is a Teams invite from an internal organizer, as Outlook sends it (Graph event JSON).
func Invite(subject string, start time.Time, d time.Duration) map[string]any {
	return map[string]any{
		"subject": subject,
		"body": map[string]any{"contentType": "html", "content": "<html><body><p>Agenda for " + subject +
			"</p><p>Join: <a href=\"" + TeamsURL + "\">Join the meeting now</a></p></body></html>"},
		"start":           GraphTime(start),
		"end":             GraphTime(start.Add(d)),
		"organizer":       map[string]any{"emailAddress": map[string]any{"name": "Alice Berg", "address": "alice.berg@contoso.example"}},
		"isOnlineMeeting": true,
		"onlineMeeting":   map[string]any{"joinUrl": TeamsURL},
	}
}

// Private is Invite marked private.
func Private(subject string, start time.Time, d time.Duration) map[string]any {
	ev := Invite(subject, start, d)
	ev["sensitivity"] = "private"
	return ev
}

// Weekdays is Invite repeating every weekday from the week before T0 to the end of the year.
func Weekdays(subject string, first time.Time, d time.Duration) map[string]any {
	ev := Invite(subject, first, d)
	ev["recurrence"] = map[string]any{
		"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{"monday", "tuesday", "wednesday", "thursday", "friday"}},
		"range":   map[string]any{"type": "endDate", "startDate": first.Format("2006-01-02"), "endDate": "2026-12-31"},
	}
	return ev
}

// Move is a patch giving an event (or an occurrence) new times.
func Move(start time.Time, d time.Duration) map[string]any {
	return map[string]any{"start": GraphTime(start), "end": GraphTime(start.Add(d))}
}

// GraphTime is a dateTimeTimeZone in UTC.
func GraphTime(t time.Time) map[string]any {
	return map[string]any{"dateTime": t.UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"}
}

// RoomName is the table's room mailbox number i.
func RoomName(i int) string { return fmt.Sprintf("room-%02d@contoso.example", i) }

// Day is a UTC time in the table's week (November 2026).
func Day(day, hour, minute int) time.Time {
	return time.Date(2026, 11, day, hour, minute, 0, 0, time.UTC)
}
