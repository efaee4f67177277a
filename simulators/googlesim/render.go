package googlesim

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// Google views of graphsim items: ids, the Event resource, and a calendar's "universe" (every
// item a listing mode can report, with versions), which listings filter and sync tokens diff.

var b32 = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// googleID is the Google event id of a graphsim single or series (base32hex, as Google's are).
func googleID(graphID string) string {
	h := sha256.Sum256([]byte(graphID))
	return b32.EncodeToString(h[:15])
}

// instanceID is the id Google gives an instance of a series: the series id and the original
// start in UTC.
func instanceID(masterGID string, orig time.Time, allDay bool) string {
	if allDay {
		return masterGID + "_" + orig.UTC().Format("20060102")
	}
	return masterGID + "_" + orig.UTC().Format("20060102T150405Z")
}

// gItem is one event of a calendar as a listing mode sees it.
type gItem struct {
	id         string
	graphID    string // graphsim single or master id (overlay key)
	master     bool
	start, end time.Time // for the window; a cancelled instance: its original times
	updated    time.Time
	cancelled  bool
	icalUID    string
	version    string
	doc        map[string]any // full event, or the guaranteed fields of a cancelled one
	text       string         // summary, description and location, for q
}

// roomCtx is what rendering needs of the calendar being read.
type roomCtx struct {
	mailbox, resource, generated string
	outLoc                       *time.Location // the request's timeZone; nil: the event's
	meetShare                    float64
	overlays                     map[string]Overlay
}

func (s *Server) roomContext(mb string, outLoc *time.Location) roomCtx {
	name, _ := s.gs.MailboxName(mb)
	rc := roomCtx{mailbox: mb, resource: ResourceEmail(mb), generated: resourceOf(mb, name).GeneratedResourceName, outLoc: outLoc}
	s.mu.Lock()
	rc.meetShare = s.settings.MeetShare
	rc.overlays = map[string]Overlay{}
	for k, v := range s.overlays {
		rc.overlays[k] = v
	}
	s.mu.Unlock()
	return rc
}

// universe lists every item of a room in one mode: singleEvents (instances up to horizon) or
// not (singles, masters, exceptions and cancelled instances).
func (s *Server) universe(rc roomCtx, single bool, horizon time.Time) ([]gItem, error) {
	stored, err := s.gs.StoredItems(rc.mailbox)
	if err != nil {
		return nil, err
	}
	ids := map[string]string{}
	masters := map[string]graphsim.SharedItem{}
	earliest := horizon
	for _, it := range stored {
		ids[googleID(it.ID)] = it.ID
		if it.Kind == graphsim.KindMaster {
			masters[it.ID] = it
		}
		if it.Start.Before(earliest) {
			earliest = it.Start
		}
	}
	s.mu.Lock()
	for k, v := range ids {
		s.googleIDs[k] = v
	}
	s.mu.Unlock()
	var out []gItem
	cancelledInstance := func(m graphsim.SharedItem, orig time.Time) gItem {
		allDay := m.Doc["isAllDay"] == true
		mg := googleID(m.ID)
		id := instanceID(mg, orig, allDay)
		doc := map[string]any{"kind": "calendar#event", "id": id, "status": "cancelled", "recurringEventId": mg,
			"originalStartTime": s.eventTime(orig, m.Zone, allDay, rc.outLoc)}
		return finish(gItem{id: id, graphID: m.ID, start: orig, end: orig.Add(m.End.Sub(m.Start)), updated: m.Modified, cancelled: true, doc: doc})
	}
	if !single {
		for _, it := range stored {
			out = append(out, s.item(rc, it, it.ID, ""))
			if it.Kind != graphsim.KindMaster {
				continue
			}
			for _, x := range it.Exceptions {
				out = append(out, s.item(rc, x, it.ID, googleID(it.ID)))
			}
			for _, d := range it.Deleted {
				out = append(out, cancelledInstance(it, d))
			}
		}
	} else {
		view, err := s.gs.ViewItems(rc.mailbox, earliest.Add(-24*time.Hour), horizon)
		if err != nil {
			return nil, err
		}
		for _, it := range view {
			if it.MasterID == "" {
				out = append(out, s.item(rc, it, it.ID, ""))
				continue
			}
			out = append(out, s.item(rc, it, it.MasterID, googleID(it.MasterID)))
		}
		for _, m := range masters {
			for _, d := range m.Deleted {
				if d.Before(horizon) {
					out = append(out, cancelledInstance(m, d))
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].start.Equal(out[j].start) {
			return out[i].start.Before(out[j].start)
		}
		return out[i].id < out[j].id
	})
	return out, nil
}

// finish sets an item's version and etag from its rendering.
func finish(g gItem) gItem {
	delete(g.doc, "etag")
	b, _ := json.Marshal(g.doc)
	h := fnv.New64a()
	h.Write(b)
	sum := h.Sum64()
	g.version = fmt.Sprintf("%016x", sum)
	// Google's etags are quoted decimal numbers derived from the update time.
	g.doc["etag"] = fmt.Sprintf(`"%d%06d"`, g.updated.UnixMilli(), sum%1_000_000)
	return g
}

// item renders a graphsim item (single, master, occurrence or exception) as a Google event.
func (s *Server) item(rc roomCtx, it graphsim.SharedItem, graphID, masterGID string) gItem {
	d := it.Doc
	allDay := d["isAllDay"] == true
	g := gItem{graphID: graphID, master: it.Kind == graphsim.KindMaster, start: it.Start, end: it.End, updated: it.Modified,
		icalUID: it.ICalUID, cancelled: d["isCancelled"] == true}
	if masterGID == "" {
		g.id = googleID(it.ID)
	} else {
		g.id = instanceID(masterGID, it.OriginalStart, allDay)
	}
	if g.cancelled {
		doc := map[string]any{"kind": "calendar#event", "id": g.id, "status": "cancelled"}
		if masterGID != "" {
			doc["recurringEventId"] = masterGID
			doc["originalStartTime"] = s.eventTime(it.OriginalStart, it.Zone, allDay, rc.outLoc)
		}
		g.doc = doc
		return finish(g)
	}
	ov := rc.overlays[graphID]
	body := nested(d, "body", "content")
	desc := descriptionHTML(body)
	if ov.EmptyDescription {
		desc = ""
	}
	org := map[string]any{"email": strings.ToLower(nested(d, "organizer", "emailAddress", "address")),
		"displayName": nested(d, "organizer", "emailAddress", "name")}
	doc := map[string]any{
		"kind": "calendar#event", "id": g.id, "status": "confirmed",
		"htmlLink": "https://www.google.com/calendar/event?eid=" + b32.EncodeToString([]byte(g.id+" "+rc.resource)),
		"created":  stamp(it.Created), "updated": stamp(it.Modified),
		"summary":   fmt.Sprint(d["subject"]),
		"creator":   org,
		"organizer": org,
		"start":     s.eventTime(it.Start, it.Zone, allDay, rc.outLoc),
		"end":       s.eventTime(it.End, it.Zone, allDay, rc.outLoc),
		"iCalUID":   it.ICalUID,
		"sequence":  0,
		"reminders": map[string]any{"useDefault": true},
		"eventType": "default",
	}
	if desc != "" {
		doc["description"] = desc
	}
	if loc := nested(d, "location", "displayName"); loc != "" {
		doc["location"] = loc
	}
	switch fmt.Sprint(d["sensitivity"]) {
	case "private", "personal":
		doc["visibility"] = "private"
	case "confidential":
		doc["visibility"] = "confidential"
	}
	if fmt.Sprint(d["showAs"]) == "free" {
		doc["transparency"] = "transparent"
	}
	doc["attendees"] = attendees(rc, d)
	if it.Kind == graphsim.KindMaster {
		if rr := rrule(d["recurrence"], it.Start, it.Zone); rr != "" {
			doc["recurrence"] = []any{rr}
		}
	}
	if masterGID != "" {
		doc["recurringEventId"] = masterGID
		doc["originalStartTime"] = s.eventTime(it.OriginalStart, it.Zone, allDay, rc.outLoc)
	}
	if c := s.conference(graphID, body, ov, rc.meetShare); c != nil {
		doc["conferenceData"] = c.json()
		if c.Type == "hangoutsMeet" {
			doc["hangoutLink"] = c.videoURI()
		}
	}
	g.doc = doc
	g.text = strings.ToLower(fmt.Sprint(doc["summary"], " ", desc, " ", doc["location"]))
	return finish(g)
}

// attendees maps Graph's attendees; the room itself is a resource attendee (self).
func attendees(rc roomCtx, d map[string]any) []any {
	out := []any{}
	atts, _ := d["attendees"].([]any)
	for _, a := range atts {
		am, _ := a.(map[string]any)
		addr := strings.ToLower(nested(am, "emailAddress", "address"))
		at := map[string]any{"email": addr, "responseStatus": response(nested(am, "status", "response"))}
		if n := nested(am, "emailAddress", "name"); n != "" {
			at["displayName"] = n
		}
		switch {
		case addr == rc.mailbox:
			at["email"], at["displayName"], at["resource"], at["self"] = rc.resource, rc.generated, true, true
			at["responseStatus"] = response(nested(d, "responseStatus", "response"))
		case fmt.Sprint(am["type"]) == "resource":
			at["resource"] = true
		case fmt.Sprint(am["type"]) == "optional":
			at["optional"] = true
		}
		out = append(out, at)
	}
	return out
}

func response(graph string) string {
	switch graph {
	case "accepted", "organizer":
		return "accepted"
	case "declined":
		return "declined"
	case "tentativelyAccepted":
		return "tentative"
	}
	return "needsAction"
}

// eventTime is an EventDateTime: dateTime with offset and the event's zone, or date.
func (s *Server) eventTime(t time.Time, zone string, allDay bool, out *time.Location) map[string]any {
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "" {
		loc, zone = time.UTC, "UTC"
	}
	if allDay {
		return map[string]any{"date": t.In(loc).Format("2006-01-02")}
	}
	if out != nil {
		return map[string]any{"dateTime": t.In(out).Format(time.RFC3339), "timeZone": zone}
	}
	return map[string]any{"dateTime": t.In(loc).Format(time.RFC3339), "timeZone": zone}
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func nested(m map[string]any, keys ...string) string {
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

var byday = map[string]string{"sunday": "SU", "monday": "MO", "tuesday": "TU", "wednesday": "WE", "thursday": "TH", "friday": "FR", "saturday": "SA"}

// rrule writes Graph's patternedRecurrence as the RRULE line Google stores.
func rrule(v any, start time.Time, zone string) string {
	raw, _ := v.(map[string]any)
	pat, _ := raw["pattern"].(map[string]any)
	rng, _ := raw["range"].(map[string]any)
	if pat == nil || rng == nil {
		return ""
	}
	var parts []string
	days := func() string {
		ds, _ := pat["daysOfWeek"].([]any)
		var out []string
		for _, d := range ds {
			out = append(out, byday[strings.ToLower(fmt.Sprint(d))])
		}
		return strings.Join(out, ",")
	}
	switch fmt.Sprint(pat["type"]) {
	case "daily":
		parts = append(parts, "FREQ=DAILY")
	case "weekly":
		parts = append(parts, "FREQ=WEEKLY")
		if wk := byday[strings.ToLower(fmt.Sprint(pat["firstDayOfWeek"]))]; wk != "" {
			parts = append(parts, "WKST="+wk)
		}
	case "absoluteMonthly", "relativeMonthly":
		parts = append(parts, "FREQ=MONTHLY")
	case "absoluteYearly", "relativeYearly":
		parts = append(parts, "FREQ=YEARLY")
	default:
		return ""
	}
	if n, ok := pat["interval"].(float64); ok && n > 1 {
		parts = append(parts, fmt.Sprintf("INTERVAL=%d", int(n)))
	}
	switch fmt.Sprint(rng["type"]) {
	case "endDate":
		loc, err := time.LoadLocation(zone)
		if err != nil {
			loc = time.UTC
		}
		if ed, err := time.ParseInLocation("2006-01-02", fmt.Sprint(rng["endDate"]), loc); err == nil {
			parts = append(parts, "UNTIL="+ed.Add(24*time.Hour-time.Second).UTC().Format("20060102T150405Z"))
		}
	case "numbered":
		if n, ok := rng["numberOfOccurrences"].(float64); ok {
			parts = append(parts, fmt.Sprintf("COUNT=%d", int(n)))
		}
	}
	switch fmt.Sprint(pat["type"]) {
	case "weekly":
		if d := days(); d != "" {
			parts = append(parts, "BYDAY="+d)
		}
	case "absoluteMonthly":
		parts = append(parts, fmt.Sprintf("BYMONTHDAY=%v", pat["dayOfMonth"]))
	case "relativeMonthly":
		idx := map[string]string{"first": "1", "second": "2", "third": "3", "fourth": "4", "last": "-1"}[strings.ToLower(fmt.Sprint(pat["index"]))]
		ds := strings.Split(days(), ",")
		for i := range ds {
			ds[i] = idx + ds[i]
		}
		parts = append(parts, "BYDAY="+strings.Join(ds, ","))
	case "absoluteYearly":
		parts = append(parts, fmt.Sprintf("BYMONTH=%v", pat["month"]), fmt.Sprintf("BYMONTHDAY=%v", pat["dayOfMonth"]))
	}
	_ = start
	return "RRULE:" + strings.Join(parts, ";")
}
