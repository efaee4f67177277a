package graphsim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"maps"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Processing is a room mailbox's calendar processing (Set-CalendarProcessing), applied by the
// simulated resource booking attendant to every invite the room receives.
type Processing struct {
	// AutomateProcessing is AutoAccept (invites are accepted and the settings below apply),
	// AutoUpdate (invites stay tentative, nothing is rewritten) or None (invites are not put on
	// the calendar at all).
	AutomateProcessing             string `json:"automate_processing"`
	AddOrganizerToSubject          bool   `json:"add_organizer_to_subject"`
	DeleteSubject                  bool   `json:"delete_subject"`
	DeleteComments                 bool   `json:"delete_comments"`
	RemovePrivateProperty          bool   `json:"remove_private_property"`
	ProcessExternalMeetingMessages bool   `json:"process_external_meeting_messages"`
	// RemoveCanceledMeetings deletes meetings the organizer cancels; otherwise they stay as
	// "Canceled: …" with isCancelled true (Exchange's default).
	RemoveCanceledMeetings bool `json:"remove_canceled_meetings"`
}

// AutomateProcessing values.
const (
	AutoAccept = "AutoAccept"
	AutoUpdate = "AutoUpdate"
	AutoNone   = "None"
)

// ExchangeDefaults is what a room mailbox created in Exchange Online has: subjects replaced by
// the organizer's name, bodies deleted, private flags cleared, external invites refused.
func ExchangeDefaults() Processing {
	return Processing{AutomateProcessing: AutoAccept, AddOrganizerToSubject: true, DeleteSubject: true,
		DeleteComments: true, RemovePrivateProperty: true}
}

// Recommended is the configuration OTJ vendors recommend (Pexip's Set-CalendarProcessing line,
// plus external invites allowed).
func Recommended() Processing {
	return Processing{AutomateProcessing: AutoAccept, ProcessExternalMeetingMessages: true}
}

// ProcessingPatch changes some processing flags (nil fields stay).
type ProcessingPatch struct {
	AutomateProcessing             *string `json:"automate_processing,omitempty"`
	AddOrganizerToSubject          *bool   `json:"add_organizer_to_subject,omitempty"`
	DeleteSubject                  *bool   `json:"delete_subject,omitempty"`
	DeleteComments                 *bool   `json:"delete_comments,omitempty"`
	RemovePrivateProperty          *bool   `json:"remove_private_property,omitempty"`
	ProcessExternalMeetingMessages *bool   `json:"process_external_meeting_messages,omitempty"`
	RemoveCanceledMeetings         *bool   `json:"remove_canceled_meetings,omitempty"`
}

func (p *Processing) apply(patch ProcessingPatch) error {
	if patch.AutomateProcessing != nil {
		switch *patch.AutomateProcessing {
		case AutoAccept, AutoUpdate, AutoNone:
			p.AutomateProcessing = *patch.AutomateProcessing
		default:
			return fmt.Errorf("automate_processing %q: want AutoAccept, AutoUpdate or None", *patch.AutomateProcessing)
		}
	}
	set := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	set(&p.AddOrganizerToSubject, patch.AddOrganizerToSubject)
	set(&p.DeleteSubject, patch.DeleteSubject)
	set(&p.DeleteComments, patch.DeleteComments)
	set(&p.RemovePrivateProperty, patch.RemovePrivateProperty)
	set(&p.ProcessExternalMeetingMessages, patch.ProcessExternalMeetingMessages)
	set(&p.RemoveCanceledMeetings, patch.RemoveCanceledMeetings)
	return nil
}

// mailbox is one room mailbox and its calendar.
type mailbox struct {
	addr        string // lower case
	name        string // display name
	inPolicy    bool   // member of the group the application access policy names
	restEnabled bool   // false: on-premises / inactive / unlicensed (MailboxNotEnabledForRESTAPI)
	proc        Processing
	rateLimit   int    // 0: the app default
	freeBusy    string // free/busy detail level (schedule.go); "": the app default

	events map[string]*eventRec // singles and series masters, by id

	// delta state: sync states by token, and rounds being paged, each oldest first
	states     map[string]*syncState
	stateOrder []string
	rounds     map[string]*deltaRound
	roundOrder []string

	stats       MailboxStats
	inFlight    int
	buckets     [rateBuckets]int
	bucketSlot  [rateBuckets]int64
	retryUntil  time.Time // a Retry-After we sent runs until then
	fullSyncSeq int
}

const rateBuckets = 60 // RateWindow in 10 s buckets

// eventRec is an event on a room's calendar: a single instance or a series master with its
// exceptions and deleted occurrences.
type eventRec struct {
	id       string
	iCalUID  string
	orig     map[string]any // the organizer's event (what was posted, plus updates)
	room     map[string]any // the room's copy after processing; replaced, never mutated
	start    time.Time      // UTC; for a series, the first occurrence
	end      time.Time
	zone     string // the time zone start was given in
	loc      *time.Location
	rec      *recurrence
	exc      map[int64]*exceptionRec // modified occurrences by original start (Unix seconds)
	deleted  map[int64]bool          // deleted occurrences
	ck       string                  // changeKey
	created  time.Time
	modified time.Time
}

// exceptionRec is a modified occurrence of a series.
type exceptionRec struct {
	id       string
	patch    map[string]any // the organizer's changes to this occurrence
	room     map[string]any
	start    time.Time
	end      time.Time
	ck       string
	modified time.Time
}

// instance is one item of a calendar view: a single instance, an occurrence or an exception.
type instance struct {
	id            string
	kind          string // singleInstance, occurrence, exception
	ev            *eventRec
	exc           *exceptionRec
	start, end    time.Time
	originalStart time.Time
	version       string // changes whenever what Graph would send changes
}

// Event types as Graph names them.
const (
	typeSingle     = "singleInstance"
	typeOccurrence = "occurrence"
	typeException  = "exception"
	typeMaster     = "seriesMaster"
)

// newID makes a Graph-looking event id, unique within the simulator and the same for the same
// sequence of operations (so seeded scenarios are reproducible).
func (s *Server) newID(mailbox string) string {
	s.idSeq++
	h := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", mailbox, s.idSeq)))
	return "AAMkAG" + base64.RawURLEncoding.EncodeToString(h[:30])
}

func (s *Server) newChangeKey() string {
	s.idSeq++
	var b [12]byte
	binary.BigEndian.PutUint64(b[4:], s.idSeq)
	h := sha256.Sum256(b[:])
	return "DwAAABYAAAA" + base64.StdEncoding.EncodeToString(h[:12])
}

// occurrenceID is the id of the occurrence of master starting (originally) at orig. It encodes
// both, so any occurrence can be addressed without being stored.
func occurrenceID(master string, orig time.Time) string {
	return "AAMkOC" + base64.RawURLEncoding.EncodeToString([]byte(master+"|"+fmt.Sprint(orig.Unix())))
}

// parseOccurrenceID undoes occurrenceID.
func parseOccurrenceID(id string) (master string, orig time.Time, ok bool) {
	rest, found := strings.CutPrefix(id, "AAMkOC")
	if !found {
		return "", time.Time{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return "", time.Time{}, false
	}
	m, sec, found := strings.Cut(string(b), "|")
	if !found {
		return "", time.Time{}, false
	}
	var unix int64
	if _, err := fmt.Sscan(sec, &unix); err != nil {
		return "", time.Time{}, false
	}
	return m, time.Unix(unix, 0).UTC(), true
}

// instances lists the calendar view [ws, we) of a mailbox, by start time.
func (mb *mailbox) instances(ws, we time.Time) []instance {
	var out []instance
	for _, ev := range mb.events {
		if ev.rec == nil {
			if ev.start.Before(we) && ev.end.After(ws) {
				out = append(out, instance{id: ev.id, kind: typeSingle, ev: ev, start: ev.start, end: ev.end, version: ev.ck})
			}
			continue
		}
		dur := ev.end.Sub(ev.start)
		// An exception may have moved into the window from an occurrence outside it: look a
		// day either side of the window for originals, then filter by the actual times.
		ev.rec.each(ev.start, ev.loc, ws.Add(-24*time.Hour), we.Add(24*time.Hour), func(orig time.Time) {
			key := orig.Unix()
			if ev.deleted[key] {
				return
			}
			if x, ok := ev.exc[key]; ok {
				if x.start.Before(we) && x.end.After(ws) {
					out = append(out, instance{id: x.id, kind: typeException, ev: ev, exc: x, start: x.start, end: x.end, originalStart: orig, version: x.ck})
				}
				return
			}
			end := orig.Add(dur)
			if orig.Before(we) && end.After(ws) {
				out = append(out, instance{id: occurrenceID(ev.id, orig), kind: typeOccurrence, ev: ev, start: orig, end: end,
					originalStart: orig, version: occurrenceVersion(ev.ck, orig)})
			}
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].start.Equal(out[j].start) {
			return out[i].start.Before(out[j].start)
		}
		return out[i].id < out[j].id
	})
	return out
}

// occurrenceVersion changes with the series (its changeKey), so a series edit shows up as
// changed occurrences in delta rounds, as in Graph.
func occurrenceVersion(masterCK string, orig time.Time) string {
	h := sha256.Sum256([]byte(masterCK + "|" + fmt.Sprint(orig.Unix())))
	return "DwAAABYAAAA" + base64.StdEncoding.EncodeToString(h[:12])
}

// findInstance resolves an id to an event, exception or (virtual) occurrence.
func (mb *mailbox) findInstance(id string) (instance, bool) {
	if ev, ok := mb.events[id]; ok {
		kind := typeSingle
		if ev.rec != nil {
			kind = typeMaster
		}
		return instance{id: ev.id, kind: kind, ev: ev, start: ev.start, end: ev.end, version: ev.ck}, true
	}
	master, orig, ok := parseOccurrenceID(id)
	if !ok {
		return instance{}, false
	}
	ev, ok := mb.events[master]
	if !ok || ev.rec == nil || ev.deleted[orig.Unix()] || !ev.rec.includes(ev.start, ev.loc, orig) {
		return instance{}, false
	}
	if x, ok := ev.exc[orig.Unix()]; ok {
		return instance{id: x.id, kind: typeException, ev: ev, exc: x, start: x.start, end: x.end, originalStart: orig, version: x.ck}, true
	}
	end := orig.Add(ev.end.Sub(ev.start))
	return instance{id: id, kind: typeOccurrence, ev: ev, start: orig, end: end, originalStart: orig, version: occurrenceVersion(ev.ck, orig)}, true
}

// render is the Graph JSON of an instance as a full event (in zone out, "UTC" by default).
func (inst instance) render(out *timeZoneOut) map[string]any {
	src := inst.ev.room
	if inst.exc != nil {
		src = inst.exc.room
	}
	m := maps.Clone(src)
	ck := inst.version
	m["@odata.type"] = "#microsoft.graph.event"
	m["@odata.etag"] = `W/"` + ck + `"`
	m["id"] = inst.id
	m["changeKey"] = ck
	m["type"] = inst.kind
	m["iCalUId"] = inst.ev.iCalUID
	m["createdDateTime"] = graphTimestamp(inst.ev.created)
	m["lastModifiedDateTime"] = graphTimestamp(inst.ev.modified)
	m["start"] = out.render(inst.start)
	m["end"] = out.render(inst.end)
	m["isOrganizer"] = false
	m["seriesMasterId"] = nil
	m["recurrence"] = nil
	m["originalStartTimeZone"] = inst.ev.zone
	m["originalEndTimeZone"] = inst.ev.zone
	switch inst.kind {
	case typeMaster:
		m["recurrence"] = inst.ev.rec.raw
	case typeOccurrence, typeException:
		m["seriesMasterId"] = inst.ev.id
		m["originalStart"] = graphTimestamp(inst.originalStart)
		if inst.exc != nil {
			m["lastModifiedDateTime"] = graphTimestamp(inst.exc.modified)
		}
	}
	return m
}

// stub is how calendarView/delta sends an occurrence: only its identity and times.
func (inst instance) stub(out *timeZoneOut) map[string]any {
	return map[string]any{
		"@odata.type":    "#microsoft.graph.event",
		"@odata.etag":    `W/"` + inst.version + `"`,
		"id":             inst.id,
		"seriesMasterId": inst.ev.id,
		"type":           typeOccurrence,
		"start":          out.render(inst.start),
		"end":            out.render(inst.end),
	}
}

// timeZoneOut renders times as Graph does for a Prefer: outlook.timezone (UTC by default).
type timeZoneOut struct {
	name string
	loc  *time.Location
}

func (z *timeZoneOut) render(t time.Time) map[string]any {
	if z == nil || z.loc == nil {
		return map[string]any{"dateTime": t.UTC().Format("2006-01-02T15:04:05.0000000"), "timeZone": "UTC"}
	}
	return map[string]any{"dateTime": t.In(z.loc).Format("2006-01-02T15:04:05.0000000"), "timeZone": z.name}
}

func graphTimestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

// --- invites: what the room's resource booking attendant does -------------------------------

// errDeclined is returned when the room did not put the invite on its calendar.
type errDeclined struct{ reason string }

func (e errDeclined) Error() string { return e.reason }

// isExternal reports whether an address is outside the tenant (its domain is not the tenant's
// nor any room's).
func (s *Server) isExternal(addr string) bool {
	_, dom, ok := strings.Cut(strings.ToLower(addr), "@")
	if !ok {
		return false
	}
	for d := range s.domains {
		if dom == d || strings.HasSuffix(dom, "."+d) {
			return false
		}
	}
	return true
}

// roomCopy applies the room's processing to the organizer's event and returns the room's copy
// (without the per-instance fields render adds).
func (s *Server) roomCopy(mb *mailbox, orig map[string]any) map[string]any {
	m := deepCopy(orig)
	for _, k := range []string{"id", "type", "seriesMasterId", "changeKey", "@odata.etag", "@odata.type", "createdDateTime",
		"lastModifiedDateTime", "responseStatus", "isOrganizer", "start", "end", "recurrence", "iCalUId", "originalStart"} {
		delete(m, k)
	}
	setDefault := func(k string, v any) {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	setDefault("subject", "")
	setDefault("body", map[string]any{"contentType": "html", "content": ""})
	setDefault("sensitivity", "normal")
	setDefault("importance", "normal")
	setDefault("isAllDay", false)
	setDefault("isCancelled", false)
	setDefault("isOnlineMeeting", false)
	setDefault("onlineMeetingProvider", "unknown")
	setDefault("onlineMeeting", nil)
	setDefault("hasAttachments", false)
	setDefault("categories", []any{})

	// The room is a resource attendee and a location of its own copy.
	roomAtt := map[string]any{"type": "resource", "emailAddress": map[string]any{"name": mb.name, "address": mb.addr},
		"status": map[string]any{"response": "none", "time": "0001-01-01T00:00:00Z"}}
	atts, _ := m["attendees"].([]any)
	found := false
	for i, a := range atts {
		am, _ := a.(map[string]any)
		if strings.EqualFold(nestedString(am, "emailAddress", "address"), mb.addr) {
			am = maps.Clone(am)
			am["type"] = "resource"
			atts[i], roomAtt, found = am, am, true
		}
	}
	if !found {
		atts = append(atts, roomAtt)
	}
	m["attendees"] = atts
	roomLoc := map[string]any{"displayName": mb.name, "locationType": "conferenceRoom", "locationEmailAddress": mb.addr,
		"uniqueId": mb.addr, "uniqueIdType": "directory"}
	locs, _ := m["locations"].([]any)
	hasRoom := false
	for _, l := range locs {
		lm, _ := l.(map[string]any)
		if strings.EqualFold(fmt.Sprint(lm["locationEmailAddress"]), mb.addr) {
			hasRoom = true
		}
	}
	if !hasRoom {
		locs = append(locs, roomLoc)
	}
	m["locations"] = locs
	if loc, ok := m["location"].(map[string]any); !ok || fmt.Sprint(loc["displayName"]) == "" {
		m["location"] = roomLoc
	} else if !strings.Contains(strings.ToLower(fmt.Sprint(loc["displayName"])), strings.ToLower(mb.name)) {
		loc = maps.Clone(loc)
		loc["displayName"] = fmt.Sprint(loc["displayName"]) + "; " + mb.name
		m["location"] = loc
	}

	now := graphTimestamp(s.now())
	switch mb.proc.AutomateProcessing {
	case AutoUpdate:
		// The calendar attendant puts the request on the calendar tentatively; the resource
		// booking attendant (which rewrites subjects and bodies) does not run.
		m["responseStatus"] = map[string]any{"response": "notResponded", "time": "0001-01-01T00:00:00Z"}
		m["showAs"] = "tentative"
	default:
		m["responseStatus"] = map[string]any{"response": "accepted", "time": now}
		if fmt.Sprint(m["showAs"]) != "free" {
			m["showAs"] = "busy"
		}
		roomAtt["status"] = map[string]any{"response": "accepted", "time": now}
		p := mb.proc
		switch {
		case p.AddOrganizerToSubject:
			m["subject"] = nestedString(m, "organizer", "emailAddress", "name")
		case p.DeleteSubject:
			m["subject"] = ""
		}
		if p.DeleteComments {
			body, _ := m["body"].(map[string]any)
			m["body"] = map[string]any{"contentType": firstNonEmpty(fmt.Sprint(body["contentType"]), "html"), "content": ""}
		}
		if p.RemovePrivateProperty && fmt.Sprint(m["sensitivity"]) == "private" {
			m["sensitivity"] = "normal"
		}
	}
	body, _ := m["body"].(map[string]any)
	m["bodyPreview"] = preview(fmt.Sprint(body["content"]))
	return m
}

var (
	tagRE   = regexp.MustCompile(`(?s)<(style|head|script)[^>]*>.*?</(style|head|script)>|<[^>]+>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// preview is Graph's bodyPreview: the body's text, whitespace collapsed, at most 255 runes.
func preview(body string) string {
	t := html.UnescapeString(tagRE.ReplaceAllString(body, " "))
	t = strings.TrimSpace(spaceRE.ReplaceAllString(strings.ReplaceAll(t, "\u00a0", " "), " "))
	if r := []rune(t); len(r) > 255 {
		t = string(r[:255])
	}
	return t
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" && v != "<nil>" {
			return v
		}
	}
	return ""
}

func nestedString(m map[string]any, keys ...string) string {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[k]
	}
	s, _ := cur.(string)
	return s
}

func deepCopy(m map[string]any) map[string]any {
	b, _ := json.Marshal(m) // maps decoded from JSON always marshal
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	if out == nil {
		out = map[string]any{}
	}
	return out
}

// eventTimes reads start and end ({dateTime, timeZone}) of a posted event.
func eventTimes(m map[string]any) (start, end time.Time, zone string, loc *time.Location, err error) {
	start, zone, loc, err = parseDateTimeTimeZone(m["start"])
	if err != nil {
		return start, end, "", nil, fmt.Errorf("start: %w", err)
	}
	end, _, _, err = parseDateTimeTimeZone(m["end"])
	if err != nil {
		return start, end, "", nil, fmt.Errorf("end: %w", err)
	}
	if !end.After(start) {
		return start, end, "", nil, errors.New("end must be after start")
	}
	return start, end, zone, loc, nil
}

func parseDateTimeTimeZone(v any) (time.Time, string, *time.Location, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return time.Time{}, "", nil, errors.New(`want {"dateTime": "…", "timeZone": "…"}`)
	}
	dt, _ := m["dateTime"].(string)
	zone, _ := m["timeZone"].(string)
	loc, err := zoneLocation(zone)
	if err != nil {
		return time.Time{}, "", nil, err
	}
	if zone == "" {
		zone = "UTC"
	}
	for _, layout := range []string{"2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, dt, loc); err == nil {
			return t.UTC(), zone, loc, nil
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, dt); err == nil {
		return t.UTC(), zone, loc, nil
	}
	return time.Time{}, "", nil, fmt.Errorf("dateTime %q is not an ISO 8601 date-time", dt)
}

// windowsZones maps the Windows zone names Outlook writes most often to IANA names.
var windowsZones = map[string]string{
	"GMT Standard Time": "Europe/London", "W. Europe Standard Time": "Europe/Berlin", "Romance Standard Time": "Europe/Paris",
	"Central Europe Standard Time": "Europe/Budapest", "Eastern Standard Time": "America/New_York",
	"Central Standard Time": "America/Chicago", "Pacific Standard Time": "America/Los_Angeles",
	"AUS Eastern Standard Time": "Australia/Sydney", "Tokyo Standard Time": "Asia/Tokyo", "India Standard Time": "Asia/Calcutta",
}

func zoneLocation(name string) (*time.Location, error) {
	switch name {
	case "", "UTC", "Etc/UTC", "Coordinated Universal Time", "GMT":
		return time.UTC, nil
	}
	if iana, ok := windowsZones[name]; ok {
		name = iana
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return loc, nil
}
