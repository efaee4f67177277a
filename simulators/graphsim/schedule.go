package graphsim

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// calendar: getSchedule — free/busy of up to 20 mailboxes in one request
// (api-reference/v1.0/api/calendar-getschedule.md, concepts/outlook-get-free-busy-schedule.md).
// It is one request against the URL's mailbox: that mailbox's checks, faults, concurrency and
// rate limits apply (do in graphapi.go); the listed schedules are only read.

// Free/busy detail levels: what a mailbox's calendar Default permission lets others see through
// getSchedule (Exchange's Set-MailboxFolderPermission …:\Calendar -User Default).
const (
	// FreeBusyAvailabilityOnly shows status, start and end only (Exchange's default).
	FreeBusyAvailabilityOnly = "availability_only"
	// FreeBusyLimitedDetails also shows subject, location and isPrivate; a private event shows
	// only its times and isPrivate true.
	FreeBusyLimitedDetails = "limited_details"
)

// Limits of getSchedule.
const (
	// ScheduleLimit is the most schedules one request may name (documented; a live tenant in
	// 2020 accepted 100, microsoft-graph-docs#7047, but clients must keep to the documented 20).
	ScheduleLimit = 20
	// ScheduleMaxWindow is the longest period: the docs say "less than 62 days"; a live test
	// (2026) found 62 days accepted and 63 refused with ErrorTimeIntervalTooBig.
	ScheduleMaxWindow = 62 * 24 * time.Hour
	// DefaultAvailabilityViewInterval and its documented range, in minutes.
	DefaultAvailabilityViewInterval = 30
	minAvailabilityViewInterval     = 5
	maxAvailabilityViewInterval     = 1440
)

func validFreeBusyDetails(v string) error {
	switch v {
	case "", FreeBusyAvailabilityOnly, FreeBusyLimitedDetails:
		return nil
	}
	return fmt.Errorf("free_busy_details %q: want %q or %q", v, FreeBusyAvailabilityOnly, FreeBusyLimitedDetails)
}

// freeBusyDetails is the mailbox's effective detail level (under s.mu).
func (s *Server) freeBusyDetails(mb *mailbox) string {
	if mb.freeBusy != "" {
		return mb.freeBusy
	}
	if s.app.freeBusy != "" {
		return s.app.freeBusy
	}
	return FreeBusyAvailabilityOnly
}

// isSchedulePath reports whether a path below /v1.0 is a getSchedule action.
func isSchedulePath(path string) bool {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) == 3 && strings.EqualFold(parts[0], "me"):
		return strings.EqualFold(parts[1], "calendar") && strings.EqualFold(parts[2], "getSchedule")
	case len(parts) == 4 && strings.EqualFold(parts[0], "users"):
		return strings.EqualFold(parts[2], "calendar") && strings.EqualFold(parts[3], "getSchedule")
	}
	return false
}

// serveSchedule reads a getSchedule POST and runs it as a Graph operation of the URL's mailbox
// (/me is the signed-in user's).
func (s *Server) serveSchedule(w http.ResponseWriter, r *http.Request, path string) {
	if r.Method != http.MethodPost {
		s.writeResp(w, errResp(http.StatusMethodNotAllowed, "BadRequest", "The HTTP method '"+r.Method+"' is not allowed for getSchedule; use POST."))
		return
	}
	if rest, ok := cutFold(strings.TrimPrefix(path, "/"), "me/"); ok {
		upn, _ := r.Context().Value(principalKey{}).(string)
		if upn == "" {
			s.writeResp(w, errResp(http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow."))
			return
		}
		path = "/users/" + upn + "/" + rest
	}
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") { // the SDK may compress bodies
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			s.writeResp(w, errResp(http.StatusBadRequest, "BadRequest", "Invalid gzip body."))
			return
		}
		defer gz.Close()
		rd = gz
	}
	body, err := io.ReadAll(io.LimitReader(rd, 1<<20))
	if err != nil {
		s.writeResp(w, errResp(http.StatusBadRequest, "BadRequest", "Unable to read the request body."))
		return
	}
	s.writeResp(w, s.do(r.Context(), gReq{method: http.MethodPost, path: path, query: r.URL.Query(),
		prefer: preferValues(r.Header.Values("Prefer")), body: body}))
}

func cutFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// scheduleRequest is getSchedule's body. Property names match case-insensitively (the concept
// page's example sends "Schedules" and "StartTime") and the interval may be a string ("15").
type scheduleRequest struct {
	Schedules                []string       `json:"schedules"`
	StartTime                map[string]any `json:"startTime"`
	EndTime                  map[string]any `json:"endTime"`
	AvailabilityViewInterval *flexInt       `json:"availabilityViewInterval"`
}

type flexInt int

func (n *flexInt) UnmarshalJSON(b []byte) error {
	v, err := strconv.Atoi(strings.Trim(string(b), `"`))
	if err != nil {
		return fmt.Errorf("availabilityViewInterval %s: not an integer", b)
	}
	*n = flexInt(v)
	return nil
}

// scheduleInformation and the types below are Graph's, marshalled as typed structs (not maps)
// so a 20-room answer is cheap to build and to encode.
type scheduleInformation struct {
	ScheduleID       string         `json:"scheduleId"`
	AvailabilityView string         `json:"availabilityView,omitempty"`
	ScheduleItems    []scheduleItem `json:"scheduleItems"` // null with an error, as Graph sends
	WorkingHours     *workingHours  `json:"workingHours,omitempty"`
	Error            *freeBusyError `json:"error,omitempty"`
}

type scheduleItem struct {
	IsPrivate *bool      `json:"isPrivate,omitempty"`
	Status    string     `json:"status"`
	Subject   *string    `json:"subject,omitempty"`
	Location  *string    `json:"location,omitempty"`
	Start     dateTimeTZ `json:"start"`
	End       dateTimeTZ `json:"end"`
}

type dateTimeTZ struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

type workingHours struct {
	DaysOfWeek []string          `json:"daysOfWeek"`
	StartTime  string            `json:"startTime"`
	EndTime    string            `json:"endTime"`
	TimeZone   map[string]string `json:"timeZone"`
}

type freeBusyError struct {
	Message      string `json:"message"`
	ResponseCode string `json:"responseCode"`
}

// Rooms work Exchange's default hours; graphsim keeps no per-mailbox zone, so they are in UTC.
var defaultWorkingHours = workingHours{DaysOfWeek: []string{"monday", "tuesday", "wednesday", "thursday", "friday"},
	StartTime: "08:00:00.0000000", EndTime: "17:00:00.0000000", TimeZone: map[string]string{"name": "UTC"}}

// getSchedule serves an admitted getSchedule request (under s.mu).
//
// UNCONFIRMED error codes and messages (no public capture found): an unreadable body, missing
// schedules/startTime/endTime, end not after start and an interval outside 5–1440 answer 400
// ErrorInvalidParameter. Confirmed shapes: ErrorMailboxDataArrayTooBig (too many schedules,
// microsoft-graph-docs#7047) and ErrorTimeIntervalTooBig (window too long).
func (s *Server) getSchedule(req gReq, pref prefer) gResp {
	var in scheduleRequest
	if err := json.Unmarshal(req.body, &in); err != nil {
		return errResp(http.StatusBadRequest, "BadRequest",
			"Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
	}
	switch n := len(in.Schedules); {
	case n == 0:
		return errResp(http.StatusBadRequest, "ErrorInvalidParameter", "The parameter 'Schedules' must name at least one user or resource.")
	case n > ScheduleLimit:
		return errResp(http.StatusBadRequest, "ErrorMailboxDataArrayTooBig",
			fmt.Sprintf("There are too many target users in the EmailAddress array. The allowed size = %d; the actual size = %d.", ScheduleLimit, n))
	}
	if in.StartTime == nil || in.EndTime == nil {
		return errResp(http.StatusBadRequest, "ErrorInvalidParameter", "The parameters 'StartTime' and 'EndTime' are required.")
	}
	ws, _, _, err1 := parseDateTimeTimeZone(in.StartTime)
	we, _, _, err2 := parseDateTimeTimeZone(in.EndTime)
	if err1 != nil || err2 != nil {
		return errResp(http.StatusBadRequest, "ErrorInvalidParameter", "The parameter 'StartTime' or 'EndTime' is invalid.")
	}
	if !we.After(ws) {
		return errResp(http.StatusBadRequest, "ErrorInvalidParameter", "The end time must be after the start time.")
	}
	if we.Sub(ws) > ScheduleMaxWindow {
		return errResp(http.StatusBadRequest, "ErrorTimeIntervalTooBig", "The time interval specified is too large; it must be at most 62 days.")
	}
	minutes := DefaultAvailabilityViewInterval
	if in.AvailabilityViewInterval != nil {
		minutes = int(*in.AvailabilityViewInterval)
	}
	if minutes < minAvailabilityViewInterval || minutes > maxAvailabilityViewInterval {
		return errResp(http.StatusBadRequest, "ErrorInvalidParameter",
			fmt.Sprintf("The parameter 'AvailabilityViewInterval' must be between %d and %d minutes.", minAvailabilityViewInterval, maxAvailabilityViewInterval))
	}
	interval := time.Duration(minutes) * time.Minute
	value := make([]scheduleInformation, 0, len(in.Schedules))
	for _, id := range in.Schedules {
		value = append(value, s.scheduleOf(id, ws, we, interval, pref.tz))
	}
	body := struct {
		Context string                `json:"@odata.context"`
		Value   []scheduleInformation `json:"value"`
	}{s.graphBase + "/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)", value}
	return gResp{status: http.StatusOK, body: body, header: pref.applied()}
}

// scheduleOf is one schedule's free/busy (under s.mu). An address Graph cannot resolve is an
// item with an error, not a failed request: responseCode 5009 for an address outside the
// tenant (microsoft-graph-docs#11225), 5016 for an unknown address or one without an Exchange
// Online mailbox in it (observed live 2026; the message is UNCONFIRMED).
func (s *Server) scheduleOf(id string, ws, we time.Time, interval time.Duration, tz *timeZoneOut) scheduleInformation {
	mb := s.boxes[strings.ToLower(strings.TrimSpace(id))]
	switch {
	case mb == nil && s.isExternal(id):
		return scheduleInformation{ScheduleID: id, Error: &freeBusyError{ResponseCode: "5009",
			Message: "Unable to resolve e-mail address " + id + " to an Active Directory object."}}
	case mb == nil || !mb.restEnabled:
		return scheduleInformation{ScheduleID: id, Error: &freeBusyError{ResponseCode: "5016",
			Message: "The user or resource " + id + " could not be found or has no mailbox."}}
	}
	mb.stats.FreeBusyLookups++
	limited := s.freeBusyDetails(mb) == FreeBusyLimitedDetails
	slots := int((we.Sub(ws) + interval - 1) / interval)
	view := make([]byte, slots)
	for i := range view {
		view[i] = '0'
	}
	items := []scheduleItem{}
	for _, inst := range mb.instances(ws, we) {
		src := inst.ev.room
		if inst.exc != nil {
			src = inst.exc.room
		}
		if src["isCancelled"] == true {
			continue // a cancelled meeting frees the room: free/busy does not list it
		}
		status := freeBusyStatus(src["showAs"])
		item := scheduleItem{Status: status, Start: renderTZ(tz, inst.start), End: renderTZ(tz, inst.end)}
		if limited {
			private := src["sensitivity"] == "private"
			item.IsPrivate = &private
			if !private {
				subject, _ := src["subject"].(string)
				location := nestedString(src, "location", "displayName")
				item.Subject, item.Location = &subject, &location
			}
		}
		items = append(items, item)
		markSlots(view, ws, interval, inst.start, inst.end, availabilityCode(status))
	}
	wh := defaultWorkingHours
	return scheduleInformation{ScheduleID: id, AvailabilityView: string(view), ScheduleItems: items, WorkingHours: &wh}
}

// freeBusyStatus maps an event's showAs to a scheduleItem status (Graph's freeBusyStatus).
func freeBusyStatus(showAs any) string {
	switch v, _ := showAs.(string); v {
	case "free", "tentative", "busy", "oof", "workingElsewhere", "unknown":
		return v
	case "":
		return "busy"
	default:
		return "unknown"
	}
}

// availabilityCode is a status's digit in availabilityView: 0 free (and working elsewhere, "for
// backward compatibility"), 1 tentative, 2 busy, 3 out of office.
func availabilityCode(status string) byte {
	switch status {
	case "tentative":
		return '1'
	case "busy":
		return '2'
	case "oof":
		return '3'
	}
	return '0'
}

// markSlots raises the slots [start, end) overlaps to code (the busiest status of a slot wins).
func markSlots(view []byte, ws time.Time, interval time.Duration, start, end time.Time, code byte) {
	if code == '0' || len(view) == 0 {
		return
	}
	first := max(0, int(start.Sub(ws)/interval))
	last := min(len(view)-1, int((end.Sub(ws)+interval-1)/interval)-1)
	for i := first; i <= last; i++ {
		if view[i] < code {
			view[i] = code
		}
	}
}

func renderTZ(z *timeZoneOut, t time.Time) dateTimeTZ {
	if z == nil || z.loc == nil {
		return dateTimeTZ{DateTime: t.UTC().Format("2006-01-02T15:04:05.0000000"), TimeZone: "UTC"}
	}
	return dateTimeTZ{DateTime: t.In(z.loc).Format("2006-01-02T15:04:05.0000000"), TimeZone: z.name}
}
