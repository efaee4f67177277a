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
	ri, err := scheduleRequest(url, schedules, start, end)
	if err != nil {
		return result{err: err, retryAfter: -1}
	}
	adapter, gen := a.current()
	return a.sendBytes(ctx, adapter, gen, ri)
}

// scheduleRequest is the getSchedule request.
func scheduleRequest(url string, schedules []string, start, end time.Time) (*abstractions.RequestInformation, error) {
	body, err := scheduleBody(schedules, start, end)
	if err != nil {
		return nil, err
	}
	ri := abstractions.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abstractions.POST, scheduleTemplate,
		map[string]string{"user%2Did": url})
	ri.Headers.TryAdd("Accept", "application/json")
	ri.Headers.Add("Prefer", `outlook.timezone="UTC"`)
	ri.SetStreamContentAndContentType(body, "application/json")
	return ri, nil
}

// scheduleBody is getSchedule's body, written out rather than marshalled (reflection cost a
// dozen allocations a request); the same bytes as encoding/json's (TestScheduleBodyAsMarshalled):
//
//	{"schedules":[…],"startTime":{"dateTime":"…","timeZone":"UTC"},"endTime":{…},"availabilityViewInterval":1440}
//
// The availability view is not read; the longest slot keeps it short.
func scheduleBody(schedules []string, start, end time.Time) ([]byte, error) {
	const layout = "2006-01-02T15:04:05"
	n := 180 // the rest, with both times
	for _, m := range schedules {
		n += len(m) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, `{"schedules":`...)
	if schedules == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, m := range schedules {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSONString(b, m); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"startTime":{"dateTime":"`...)
	b = start.UTC().AppendFormat(b, layout)
	b = append(b, `","timeZone":"UTC"},"endTime":{"dateTime":"`...)
	b = end.UTC().AppendFormat(b, layout)
	b = append(b, `","timeZone":"UTC"},"availabilityViewInterval":1440}`...)
	return b, nil
}

// appendJSONString appends s quoted as encoding/json quotes it: as it is when it has nothing
// to escape (a mailbox address), else by encoding/json.
func appendJSONString(b []byte, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			return append(b, q...), err
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), nil
}
