package graph

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
)

// The change probe's request: POST users/{mailbox}/calendar/getSchedule through the same SDK
// request adapter as the calendar requests (token, allowed hosts, middleware, error reading:
// client.go). The URL template is msgraph-sdk-go's ItemCalendarGetScheduleRequestBuilder's;
// the generated builder itself is not referred to, for the binary-size reason client.go gives.

// Delegated integrations send it as a room too, not as /me: the signed-in account reads the
// room calendars already (delegate access), need not have a mailbox of its own, and the
// per-mailbox limits stay spread over the rooms.
const scheduleTemplate = "{+baseurl}/users/{user%2Did}/calendar/getSchedule"

// maxSchedules is the most mailboxes one getSchedule may name, and maxScheduleSpan the
// longest period it may cover ("less than 62 days"): a day of margin.
const (
	maxSchedules    = 20
	maxScheduleSpan = 61 * 24 * time.Hour
)

// scheduleAnswer is getSchedule's answer, reduced to what the probe reads.
type scheduleAnswer struct {
	Value []scheduleInfo `json:"value"`
}

type scheduleInfo struct {
	ScheduleID string         `json:"scheduleId"`
	Items      []scheduleItem `json:"scheduleItems"`
	Error      *struct {
		Message      string `json:"message"`
		ResponseCode string `json:"responseCode"`
	} `json:"error"`
}

type scheduleItem struct {
	IsPrivate bool         `json:"isPrivate"`
	Status    string       `json:"status"`
	Subject   string       `json:"subject"`
	Location  string       `json:"location"`
	Start     scheduleTime `json:"start"`
	End       scheduleTime `json:"end"`
}

type scheduleTime struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

// time reads a dateTimeTimeZone; the request asks for UTC, and other zones are read when
// the system knows them.
func (t scheduleTime) time() (time.Time, bool) {
	loc := time.UTC
	if tz := strings.TrimSpace(t.TimeZone); tz != "" && !strings.EqualFold(tz, "UTC") {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return time.Time{}, false
		}
		loc = l
	}
	v, err := time.ParseInLocation("2006-01-02T15:04:05.9999999", strings.TrimSuffix(t.DateTime, "Z"), loc)
	if err != nil {
		return time.Time{}, false
	}
	return v.UTC(), true
}

// getSchedule asks for the free/busy items of schedules over [start, end) with the request
// sent as url (one of them).
func (a *api) getSchedule(ctx context.Context, url string, schedules []string, start, end time.Time) result {
	type dtz struct {
		DateTime string `json:"dateTime"`
		TimeZone string `json:"timeZone"`
	}
	body, err := json.Marshal(struct {
		Schedules []string `json:"schedules"`
		StartTime dtz      `json:"startTime"`
		EndTime   dtz      `json:"endTime"`
		Interval  int      `json:"availabilityViewInterval"`
	}{schedules, dtz{start.UTC().Format("2006-01-02T15:04:05"), "UTC"}, dtz{end.UTC().Format("2006-01-02T15:04:05"), "UTC"},
		// The availability view is not read; the longest slot keeps it short.
		1440})
	if err != nil {
		return result{err: err, retryAfter: -1}
	}
	adapter, gen := a.current()
	ri := abstractions.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abstractions.POST, scheduleTemplate,
		map[string]string{"user%2Did": url})
	ri.Headers.TryAdd("Accept", "application/json")
	ri.Headers.Add("Prefer", `outlook.timezone="UTC"`)
	ri.SetStreamContentAndContentType(body, "application/json")
	return a.sendBytes(ctx, adapter, gen, ri)
}
