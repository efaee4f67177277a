package ciscosim

import (
	"errors"
	"sort"
	"strings"
	"time"
)

// The booking model other simulators share (webexsim's cloud xAPI serves the same Bookings
// commands): validation is ParsePut, listing is ListBookings, so the same checks apply to a
// payload whichever way it reaches a device.

// StartAt is when the booking starts (zero when StartTime does not parse; ParsePut refuses that).
func (b Booking) StartAt() time.Time { return b.start() }

// EndAt is StartAt plus Duration.
func (b Booking) EndAt() time.Time { return b.end() }

// SortBookings orders a list by start, as a codec stores it after a Put.
func SortBookings(list []Booking) {
	sort.SliceStable(list, func(i, j int) bool { return list[i].start().Before(list[j].start()) })
}

// CurrentBooking is the Id of the booking running at now ("" when none): Status Bookings
// Current Id.
func CurrentBooking(list []Booking, now time.Time) string {
	for _, b := range list {
		if !now.Before(b.start()) && now.Before(b.end()) {
			return b.Id
		}
	}
	return ""
}

// ListItem renders booking i of a list the way Bookings List and Get show it.
func ListItem(i int, b Booking) map[string]any { return listItem(i, b) }

// ListBookings is Bookings List over list (sorted by start) at now: DayOffset/Days select whole
// days in loc (nil: UTC), ScheduleType Current|Upcoming narrows further, Offset/Limit page. The
// result is {"status":"OK","ResultInfo":{"TotalRows":n},"Booking":[…]}; an error names the
// invalid parameter.
func ListBookings(list []Booking, now time.Time, loc *time.Location, p map[string]any) (map[string]any, error) {
	if loc == nil {
		loc = time.UTC
	}
	var from, to time.Time
	_, hasDays := p["Days"]
	_, hasOffset := p["DayOffset"]
	if hasDays || hasOffset {
		days, offset := 1, 0
		if hasDays {
			d, ok := intParam(p["Days"])
			if !ok || d < 1 || d > 365 {
				return nil, errors.New("Days must be 1–365")
			}
			days = d
		}
		if hasOffset {
			o, ok := intParam(p["DayOffset"])
			if !ok || o < 0 || o > 365 {
				return nil, errors.New("DayOffset must be 0–365")
			}
			offset = o
		}
		ln := now.In(loc)
		from = time.Date(ln.Year(), ln.Month(), ln.Day()+offset, 0, 0, 0, 0, loc)
		to = time.Date(ln.Year(), ln.Month(), ln.Day()+offset+days, 0, 0, 0, 0, loc)
	}
	st, _ := p["ScheduleType"].(string)
	if st != "" && !strings.EqualFold(st, "Current") && !strings.EqualFold(st, "Upcoming") {
		return nil, errors.New("ScheduleType must be Current or Upcoming")
	}
	var sel []Booking
	for _, b := range list {
		if !from.IsZero() && (!b.end().After(from) || !b.start().Before(to)) {
			continue
		}
		switch {
		case strings.EqualFold(st, "Current") && (now.Before(b.start()) || !now.Before(b.end())):
			continue
		case strings.EqualFold(st, "Upcoming") && !b.start().After(now):
			continue
		}
		sel = append(sel, b)
	}
	total := len(sel)
	if o, ok := intParam(p["Offset"]); ok && o > 0 {
		sel = sel[min(o, len(sel)):]
	}
	if l, ok := intParam(p["Limit"]); ok && l > 0 && l < len(sel) {
		sel = sel[:l]
	}
	res := map[string]any{"status": "OK", "ResultInfo": map[string]any{"TotalRows": total}}
	if len(sel) > 0 {
		items := make([]any, len(sel))
		for i, b := range sel {
			items[i] = listItem(i, b)
		}
		res["Booking"] = items
	}
	return res, nil
}
