package google

import (
	"encoding/json"
	"fmt"
	"html"
	"strings"
	"time"

	gcal "google.golang.org/api/calendar/v3"

	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/rules"
)

// A Google event as the neutral event (sync/calendar, Graph-shaped JSON), so the processor
// resolves a room the same whichever source fills it (README "Calendar sync (Google
// Workspace)", mapping table):
//
//	summary → subject; description → body (HTML when it looks like HTML, else text);
//	location → location.displayName; organizer → organizer; attendees → attendees (resource:
//	true → type resource, optional → optional); the room's own attendee entry →
//	responseStatus; visibility private/confidential → sensitivity; transparency transparent →
//	showAs free, status tentative → tentative, else busy; recurringEventId → seriesMasterId
//	with type occurrence (exception when moved from its originalStartTime); iCalUID →
//	iCalUId; etag → changeKey; times in UTC (all-day dates at midnight of the calendar's zone).
//
// conferenceData is where a Meet (or a Calendar add-on's Zoom, Webex, Teams) meeting keeps its
// join details, whatever the description says: the video entry point (else hangoutLink)
// becomes onlineMeeting.joinUrl, which the rules read before the body, with the meeting code
// as conferenceId and the first phone number as tollNumber; and the entry points the
// description does not already carry are appended to the body as the block Google itself
// writes into invitations and iCalendar descriptions ("Join with Google Meet: …"), so a SIP
// entry point (add-ons) is an address the rules can dial. A meeting whose description was
// emptied still has its join address.

// conferenceMarker opens and closes the conference block, as in Google's own invitations.
const conferenceMarker = "-::~:~::~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~::~:~::-"

// responses maps an attendee's responseStatus to Graph's response words.
var responses = map[string]string{
	"accepted": "accepted", "declined": "declined", "tentative": "tentativelyAccepted", "needsAction": "notResponded",
}

// eventDoc is the Graph-shaped JSON of a Google event read from calendarID (the room), and
// what the store indexes of it. zone places all-day dates. Equal events give equal bytes (map
// keys sort), so an unchanged event never rewrites its row.
func eventDoc(e *gcal.Event, calendarID string, zone *time.Location) ([]byte, calendar.Event, error) {
	start, allDay, err := eventTime(e.Start, zone)
	if err != nil {
		return nil, calendar.Event{}, fmt.Errorf("event %s: start: %w", e.Id, err)
	}
	end, _, err := eventTime(e.End, zone)
	if err != nil {
		return nil, calendar.Event{}, fmt.Errorf("event %s: end: %w", e.Id, err)
	}
	typ := calendar.TypeSingleInstance
	master := ""
	if e.RecurringEventId != "" {
		typ, master = calendar.TypeOccurrence, e.RecurringEventId
		if orig, _, err := eventTime(e.OriginalStartTime, zone); err == nil && !orig.Equal(start) {
			typ = calendar.TypeException
		}
	}
	d := map[string]any{
		"id":          e.Id,
		"changeKey":   e.Etag,
		"type":        typ,
		"subject":     e.Summary,
		"start":       calendar.FromTime(start),
		"end":         calendar.FromTime(end),
		"isAllDay":    allDay,
		"isCancelled": false,
		"sensitivity": sensitivity(e.Visibility),
		"showAs":      showAs(e),
	}
	if e.ICalUID != "" {
		d["iCalUId"] = e.ICalUID
	}
	if master != "" {
		d["seriesMasterId"] = master
		if orig, _, err := eventTime(e.OriginalStartTime, zone); err == nil {
			d["originalStart"] = graphTimestamp(orig)
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, e.Created); err == nil {
		d["createdDateTime"] = graphTimestamp(t)
	}
	if t, err := time.Parse(time.RFC3339Nano, e.Updated); err == nil {
		d["lastModifiedDateTime"] = graphTimestamp(t)
	}
	if o := e.Organizer; o != nil && (o.Email != "" || o.DisplayName != "") {
		d["organizer"] = map[string]any{"emailAddress": address(o.DisplayName, o.Email)}
		d["isOrganizer"] = o.Self || strings.EqualFold(o.Email, calendarID)
	}
	var atts []any
	for _, a := range e.Attendees {
		if a == nil {
			continue
		}
		typ := "required"
		switch {
		case a.Resource:
			typ = "resource"
		case a.Optional:
			typ = "optional"
		}
		resp := responses[a.ResponseStatus]
		if a.Organizer {
			resp = "organizer"
		}
		if resp == "" {
			resp = "none"
		}
		atts = append(atts, map[string]any{"type": typ, "emailAddress": address(a.DisplayName, a.Email),
			"status": map[string]any{"response": resp, "time": "0001-01-01T00:00:00Z"}})
		// The room's own answer is the event's responseStatus, as Graph gives a mailbox's.
		if a.Self || strings.EqualFold(a.Email, calendarID) {
			d["responseStatus"] = map[string]any{"response": resp, "time": "0001-01-01T00:00:00Z"}
		}
	}
	if len(atts) > 0 {
		d["attendees"] = atts
	}
	if loc := strings.TrimSpace(e.Location); loc != "" {
		d["location"] = map[string]any{"displayName": loc}
	}
	body := e.Description
	isHTML := rules.LooksLikeHTML(body)
	conf := conference(e)
	if conf.joinURL != "" {
		d["isOnlineMeeting"] = true
		d["onlineMeetingProvider"] = providerOf(conf.joinURL)
		om := map[string]any{"joinUrl": conf.joinURL}
		if conf.code != "" {
			om["conferenceId"] = conf.code
		}
		if conf.phone != "" {
			om["tollNumber"] = conf.phone
		}
		d["onlineMeeting"] = om
	}
	if block := conf.block(body, isHTML); block != "" {
		if strings.TrimSpace(body) == "" {
			isHTML = false
			body = block
		} else {
			body += block
		}
	}
	contentType := "text"
	if isHTML {
		contentType = "html"
	}
	d["body"] = map[string]any{"contentType": contentType, "content": body}
	data, err := json.Marshal(d)
	if err != nil {
		return nil, calendar.Event{}, fmt.Errorf("event %s: %w", e.Id, err)
	}
	ev := calendar.Event{ID: e.Id, Type: typ, SeriesMasterID: master, ChangeKey: e.Etag,
		Start: calendar.FromTime(start), End: calendar.FromTime(end)}
	return data, ev, nil
}

// eventTime reads an EventDateTime: dateTime (RFC 3339) in UTC, or an all-day date at
// midnight of its timeZone (else zone's).
func eventTime(t *gcal.EventDateTime, zone *time.Location) (time.Time, bool, error) {
	if t == nil {
		return time.Time{}, false, fmt.Errorf("missing")
	}
	if t.DateTime != "" {
		v, err := time.Parse(time.RFC3339Nano, t.DateTime)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("dateTime %q is not RFC 3339", t.DateTime)
		}
		return v.UTC(), false, nil
	}
	if t.Date == "" {
		return time.Time{}, false, fmt.Errorf("neither date nor dateTime")
	}
	loc := zone
	if t.TimeZone != "" {
		if l, err := time.LoadLocation(t.TimeZone); err == nil {
			loc = l
		}
	}
	if loc == nil {
		loc = time.UTC
	}
	v, err := time.ParseInLocation(time.DateOnly, t.Date, loc)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("date %q is not yyyy-mm-dd", t.Date)
	}
	return v.UTC(), true, nil
}

func sensitivity(v string) string {
	switch v {
	case "private", "confidential":
		return v
	}
	return "normal"
}

func showAs(e *gcal.Event) string {
	switch {
	case e.Transparency == "transparent":
		return "free"
	case e.Status == "tentative":
		return "tentative"
	}
	return "busy"
}

func address(name, email string) map[string]any {
	out := map[string]any{}
	if name != "" {
		out["name"] = name
	}
	if email != "" {
		out["address"] = email
	}
	return out
}

// providerOf names the online meeting service of a join URL as Graph's
// onlineMeetingProvider does (Teams through the Calendar add-on is teamsForBusiness).
func providerOf(u string) string {
	l := strings.ToLower(u)
	if strings.Contains(l, "teams.microsoft.com") || strings.Contains(l, "teams.live.com") {
		return "teamsForBusiness"
	}
	return "unknown"
}

func graphTimestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

// conf is what an event's conferenceData (or legacy hangoutLink) says about joining.
type conf struct {
	name    string // the conference solution's name ("Google Meet", "Zoom Meeting")
	joinURL string // the video entry point
	code    string // meeting code / conference id
	phone   string // the first phone number (no tel:)
	entries []confLine
}

type confLine struct {
	label string // "Join with Google Meet", "Join by SIP", "Join by phone", "More"
	uri   string
	extra string // PIN / passcode as Google prints them
}

func conference(e *gcal.Event) conf {
	var c conf
	if cd := e.ConferenceData; cd != nil {
		if cd.ConferenceSolution != nil {
			c.name = cd.ConferenceSolution.Name
		}
		c.code = cd.ConferenceId
		for _, ep := range cd.EntryPoints {
			if ep == nil || ep.Uri == "" {
				continue
			}
			l := confLine{uri: ep.Uri}
			switch ep.EntryPointType {
			case "video":
				if c.joinURL == "" {
					c.joinURL = ep.Uri
				}
				if c.code == "" {
					c.code = ep.MeetingCode
				}
				l.label = "Join with " + firstNonEmpty(c.name, "the video meeting")
				l.extra = secretLike(ep)
			case "sip":
				l.label = "Join by SIP"
				l.extra = secretLike(ep)
			case "phone":
				if c.phone == "" {
					c.phone = strings.TrimPrefix(ep.Uri, "tel:")
				}
				l.label = "Join by phone"
				if ep.Pin != "" {
					l.extra = "PIN: " + ep.Pin + "#"
				}
			case "more":
				l.label = "More ways to join"
			default:
				continue
			}
			c.entries = append(c.entries, l)
		}
	}
	if c.joinURL == "" && e.HangoutLink != "" {
		c.joinURL = e.HangoutLink
		c.entries = append(c.entries, confLine{label: "Join with Google Meet", uri: e.HangoutLink})
	}
	return c
}

// secretLike is the passcode or access code of an entry point as invitations print it (the
// meeting's, shown to every invitee; needed to join).
func secretLike(ep *gcal.EntryPoint) string {
	switch {
	case ep.Passcode != "":
		return "Passcode: " + ep.Passcode
	case ep.Password != "":
		return "Password: " + ep.Password
	case ep.AccessCode != "":
		return "Access code: " + ep.AccessCode
	}
	return ""
}

// block is the conference block to append to body: the entry points the body does not
// already carry ("" when it carries them all).
func (c conf) block(body string, isHTML bool) string {
	var lines []string
	for _, l := range c.entries {
		if strings.Contains(body, l.uri) || strings.Contains(body, strings.TrimPrefix(strings.TrimPrefix(l.uri, "sip:"), "tel:")) {
			continue
		}
		line := l.label + ": " + l.uri
		if l.extra != "" {
			line += " " + l.extra
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return ""
	}
	all := append(append([]string{conferenceMarker}, lines...), conferenceMarker)
	if isHTML {
		for i := range all {
			all[i] = html.EscapeString(all[i])
		}
		return "<br><br>" + strings.Join(all, "<br>") + "<br>"
	}
	return "\n\n" + strings.Join(all, "\n") + "\n"
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
