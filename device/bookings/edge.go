package bookings

import "time"

// The window's trailing edge: a pushed meeting stays in the window until its end plus the
// window's past part (Window), and a push is due when it leaves, so that the device drops it
// without waiting for the next change or safety push. Both pushing drivers (device/cisco,
// device/webex) arm a timer at NextEdge after each push.

// End is when the booking ends (its start plus its duration); zero when its start does not parse.
func (b Booking) End() time.Time {
	start, err := time.Parse(time.RFC3339, b.Time.StartTime)
	if err != nil {
		return time.Time{}
	}
	return start.Add(time.Duration(b.Time.Duration) * time.Minute)
}

// NextEdge is when the earliest of the pushed meetings ending at ends leaves the window at
// now (end + windowPast), a second late so that the window has passed it; zero when none is
// still to leave.
func NextEdge(ends []time.Time, now time.Time, windowPast time.Duration) time.Time {
	var next time.Time
	for _, end := range ends {
		if end.IsZero() {
			continue
		}
		out := end.Add(windowPast)
		if out.After(now) && (next.IsZero() || out.Before(next)) {
			next = out
		}
	}
	if !next.IsZero() {
		next = next.Add(time.Second)
	}
	return next
}
