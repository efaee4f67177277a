package graphsim

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Graph's patternedRecurrence, parsed and expanded into the series' occurrences.

// recurrence is Graph's patternedRecurrence, the subset graphsim expands: daily, weekly,
// absoluteMonthly, relativeMonthly and absoluteYearly patterns; endDate, noEnd and numbered
// ranges.
type recurrence struct {
	raw        map[string]any
	pattern    string
	interval   int
	days       []time.Weekday
	firstDay   time.Weekday
	dayOfMonth int
	month      int
	index      string // first, second, third, fourth, last
	rangeType  string
	startDate  time.Time // civil dates (UTC midnight)
	endDate    time.Time
	count      int
}

var weekdays = map[string]time.Weekday{"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday,
	"wednesday": time.Wednesday, "thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday}

func parseRecurrence(v any, seriesStart time.Time, loc *time.Location) (*recurrence, error) {
	raw, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("recurrence: want an object with pattern and range")
	}
	pat, _ := raw["pattern"].(map[string]any)
	rng, _ := raw["range"].(map[string]any)
	if pat == nil || rng == nil {
		return nil, errors.New("recurrence: pattern and range are required")
	}
	r := &recurrence{raw: raw, pattern: fmt.Sprint(pat["type"]), interval: 1, firstDay: time.Sunday}
	if n, ok := pat["interval"].(float64); ok && n >= 1 {
		r.interval = int(n)
	}
	if d, ok := weekdays[strings.ToLower(fmt.Sprint(pat["firstDayOfWeek"]))]; ok {
		r.firstDay = d
	}
	if ds, ok := pat["daysOfWeek"].([]any); ok {
		for _, d := range ds {
			wd, ok := weekdays[strings.ToLower(fmt.Sprint(d))]
			if !ok {
				return nil, fmt.Errorf("recurrence: unknown day of week %v", d)
			}
			r.days = append(r.days, wd)
		}
	}
	if n, ok := pat["dayOfMonth"].(float64); ok {
		r.dayOfMonth = int(n)
	}
	if n, ok := pat["month"].(float64); ok {
		r.month = int(n)
	}
	r.index = strings.ToLower(fmt.Sprint(pat["index"]))
	local := seriesStart.In(loc)
	switch r.pattern {
	case "daily":
	case "weekly":
		if len(r.days) == 0 {
			r.days = []time.Weekday{local.Weekday()}
		}
	case "absoluteMonthly":
		if r.dayOfMonth == 0 {
			r.dayOfMonth = local.Day()
		}
	case "relativeMonthly":
		if len(r.days) == 0 {
			return nil, errors.New("recurrence: relativeMonthly needs daysOfWeek")
		}
		if r.index == "" || r.index == "<nil>" {
			r.index = "first"
		}
	case "absoluteYearly":
		if r.dayOfMonth == 0 {
			r.dayOfMonth = local.Day()
		}
		if r.month == 0 {
			r.month = int(local.Month())
		}
	default:
		return nil, fmt.Errorf("recurrence: pattern type %q is not supported by graphsim (daily, weekly, absoluteMonthly, relativeMonthly, absoluteYearly)", r.pattern)
	}
	r.rangeType = fmt.Sprint(rng["type"])
	var err error
	if sd, _ := rng["startDate"].(string); sd != "" {
		if r.startDate, err = time.Parse("2006-01-02", sd); err != nil {
			return nil, fmt.Errorf("recurrence: startDate: %w", err)
		}
	} else {
		r.startDate = civil(local)
	}
	switch r.rangeType {
	case "endDate":
		ed, _ := rng["endDate"].(string)
		if r.endDate, err = time.Parse("2006-01-02", ed); err != nil {
			return nil, fmt.Errorf("recurrence: endDate: %w", err)
		}
	case "numbered":
		n, _ := rng["numberOfOccurrences"].(float64)
		if n < 1 {
			return nil, errors.New("recurrence: numbered range needs numberOfOccurrences ≥ 1")
		}
		r.count = int(n)
	case "noEnd":
	default:
		return nil, fmt.Errorf("recurrence: range type %q: want endDate, noEnd or numbered", r.rangeType)
	}
	return r, nil
}

func civil(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// each calls fn with the (original) start of every occurrence that starts before until and
// ends after from, in order. Occurrences keep the series' local time of day in its zone.
func (r *recurrence) each(seriesStart time.Time, loc *time.Location, from, until time.Time, fn func(time.Time)) {
	local := seriesStart.In(loc)
	at := func(d time.Time) time.Time {
		return time.Date(d.Year(), d.Month(), d.Day(), local.Hour(), local.Minute(), local.Second(), 0, loc).UTC()
	}
	n := 0
	emit := func(d time.Time) bool { // false: stop
		if d.Before(r.startDate) {
			return true
		}
		if r.rangeType == "endDate" && d.After(r.endDate) {
			return false
		}
		if r.count > 0 && n >= r.count {
			return false
		}
		n++
		t := at(d)
		if !t.Before(until) {
			return false
		}
		if !t.Before(from) {
			fn(t)
		} else if t.Add(24 * time.Hour).After(from) {
			fn(t) // may still overlap from; the caller filters by end
		}
		return true
	}
	const maxSteps = 20000
	d := r.startDate
	switch r.pattern {
	case "daily":
		for i := 0; i < maxSteps; i++ {
			if !emit(d) {
				return
			}
			d = d.AddDate(0, 0, r.interval)
		}
	case "weekly":
		weekStart := d.AddDate(0, 0, -((int(d.Weekday()) - int(r.firstDay) + 7) % 7))
		days := append([]time.Weekday(nil), r.days...)
		sort.Slice(days, func(i, j int) bool {
			return (int(days[i])-int(r.firstDay)+7)%7 < (int(days[j])-int(r.firstDay)+7)%7
		})
		for i := 0; i < maxSteps; i++ {
			for _, wd := range days {
				day := weekStart.AddDate(0, 0, (int(wd)-int(r.firstDay)+7)%7)
				if day.Before(r.startDate) {
					continue
				}
				if !emit(day) {
					return
				}
			}
			weekStart = weekStart.AddDate(0, 0, 7*r.interval)
		}
	case "absoluteMonthly", "relativeMonthly", "absoluteYearly":
		month := time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
		step := r.interval
		if r.pattern == "absoluteYearly" {
			month = time.Date(d.Year(), time.Month(r.month), 1, 0, 0, 0, 0, time.UTC)
			step = 12 * r.interval
		}
		for i := 0; i < maxSteps; i++ {
			if day, ok := r.dayIn(month); ok && !emit(day) {
				return
			}
			month = month.AddDate(0, step, 0)
		}
	}
}

// dayIn is the occurrence day within a month for the monthly and yearly patterns.
func (r *recurrence) dayIn(month time.Time) (time.Time, bool) {
	last := month.AddDate(0, 1, -1).Day()
	if r.pattern != "relativeMonthly" {
		if r.dayOfMonth > last {
			return time.Time{}, false
		}
		return month.AddDate(0, 0, r.dayOfMonth-1), true
	}
	var matches []time.Time
	for d := 1; d <= last; d++ {
		day := month.AddDate(0, 0, d-1)
		for _, wd := range r.days {
			if day.Weekday() == wd {
				matches = append(matches, day)
			}
		}
	}
	idx := map[string]int{"first": 0, "second": 1, "third": 2, "fourth": 3}
	if r.index == "last" {
		return matches[len(matches)-1], true
	}
	i := idx[r.index]
	if i >= len(matches) {
		return time.Time{}, false
	}
	return matches[i], true
}

// includes reports whether orig is an occurrence of the series.
func (r *recurrence) includes(seriesStart time.Time, loc *time.Location, orig time.Time) bool {
	found := false
	r.each(seriesStart, loc, orig.Add(-time.Second), orig.Add(time.Second), func(t time.Time) {
		if t.Equal(orig) {
			found = true
		}
	})
	return found
}
