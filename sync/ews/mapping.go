package ews

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

// An EWS CalendarItem as the neutral event (sync/calendar, Graph-shaped JSON), so everything
// downstream (the processor, the drivers, the diagnosis) reads a room the same whichever
// source fills it: the same types, iCalUId, times in UTC, HTML body, organizer, attendees,
// sensitivity, free/busy, response and online-meeting fields Graph sends.

// mailboxXML is an EWS Mailbox (organizer, attendee).
type mailboxXML struct {
	Name    string `xml:"Name"`
	Address string `xml:"EmailAddress"`
	Routing string `xml:"RoutingType"`
}

type attendeeXML struct {
	Mailbox      mailboxXML `xml:"Mailbox"`
	ResponseType string     `xml:"ResponseType"`
	LastResponse string     `xml:"LastResponseTime"`
}

// calendarItem is the part of a GetItem CalendarItem the source maps.
type calendarItem struct {
	ItemID      itemID `xml:"ItemId"`
	Subject     string `xml:"Subject"`
	Sensitivity string `xml:"Sensitivity"`
	Body        struct {
		Type    string `xml:"BodyType,attr"`
		Content string `xml:",chardata"`
	} `xml:"Body"`
	Created       string        `xml:"DateTimeCreated"`
	Modified      string        `xml:"LastModifiedTime"`
	UID           string        `xml:"UID"`
	Start         string        `xml:"Start"`
	End           string        `xml:"End"`
	OriginalStart string        `xml:"OriginalStart"`
	AllDay        string        `xml:"IsAllDayEvent"`
	FreeBusy      string        `xml:"LegacyFreeBusyStatus"`
	Location      string        `xml:"Location"`
	Cancelled     string        `xml:"IsCancelled"`
	Type          string        `xml:"CalendarItemType"`
	MyResponse    string        `xml:"MyResponseType"`
	Organizer     mailboxXML    `xml:"Organizer>Mailbox"`
	Required      []attendeeXML `xml:"RequiredAttendees>Attendee"`
	Optional      []attendeeXML `xml:"OptionalAttendees>Attendee"`
	Resources     []attendeeXML `xml:"Resources>Attendee"`
	Online        string        `xml:"IsOnlineMeeting"`
	JoinURL       string        `xml:"JoinOnlineMeetingUrl"`
}

// itemTypes maps CalendarItemType to Graph's event types.
var itemTypes = map[string]string{
	"Single":          calendar.TypeSingleInstance,
	"Occurrence":      calendar.TypeOccurrence,
	"Exception":       calendar.TypeException,
	"RecurringMaster": calendar.TypeSeriesMaster,
}

// showAs maps LegacyFreeBusyStatus to Graph's showAs.
var showAs = map[string]string{
	"Free": "free", "Tentative": "tentative", "Busy": "busy", "OOF": "oof",
	"WorkingElsewhere": "workingElsewhere", "NoData": "unknown",
}

// responses maps ResponseType (MyResponseType, attendees') to Graph's response words.
var responses = map[string]string{
	"Unknown": "none", "Organizer": "organizer", "Tentative": "tentativelyAccepted", "Accept": "accepted",
	"Decline": "declined", "NoResponseReceived": "notResponded",
}

// eventDoc is the Graph-shaped JSON of an item; masterID is the series master of an
// occurrence or exception ("" when unknown). Equal items give equal bytes (map keys sort), so
// an unchanged item never rewrites its row.
func eventDoc(it calendarItem, masterID string) ([]byte, calendar.Event, error) {
	typ, ok := itemTypes[strings.TrimSpace(it.Type)]
	if !ok {
		typ = calendar.TypeSingleInstance
	}
	start, err := parseEWSTime(it.Start)
	if err != nil {
		return nil, calendar.Event{}, fmt.Errorf("item %s: start: %w", it.ItemID.ID, err)
	}
	end, err := parseEWSTime(it.End)
	if err != nil {
		return nil, calendar.Event{}, fmt.Errorf("item %s: end: %w", it.ItemID.ID, err)
	}
	d := map[string]any{
		"id":              it.ItemID.ID,
		"changeKey":       it.ItemID.ChangeKey,
		"type":            typ,
		"subject":         it.Subject,
		"start":           calendar.FromTime(start),
		"end":             calendar.FromTime(end),
		"isAllDay":        isTrue(it.AllDay),
		"isCancelled":     isTrue(it.Cancelled),
		"sensitivity":     strings.ToLower(firstNonEmpty(strings.TrimSpace(it.Sensitivity), "Normal")),
		"body":            map[string]any{"contentType": bodyType(it.Body.Type), "content": it.Body.Content},
		"isOnlineMeeting": isTrue(it.Online),
	}
	if it.UID != "" {
		d["iCalUId"] = it.UID
	}
	if v, ok := showAs[strings.TrimSpace(it.FreeBusy)]; ok {
		d["showAs"] = v
	}
	if v, ok := responses[strings.TrimSpace(it.MyResponse)]; ok {
		d["responseStatus"] = map[string]any{"response": v, "time": "0001-01-01T00:00:00Z"}
	}
	if t, err := parseEWSTime(it.Created); err == nil {
		d["createdDateTime"] = graphTimestamp(t)
	}
	if t, err := parseEWSTime(it.Modified); err == nil {
		d["lastModifiedDateTime"] = graphTimestamp(t)
	}
	if it.Organizer.Address != "" || it.Organizer.Name != "" {
		d["organizer"] = map[string]any{"emailAddress": address(it.Organizer)}
	}
	var atts []any
	for _, l := range []struct {
		typ string
		as  []attendeeXML
	}{{"required", it.Required}, {"optional", it.Optional}, {"resource", it.Resources}} {
		for _, a := range l.as {
			resp := responses[strings.TrimSpace(a.ResponseType)]
			if resp == "" {
				resp = "none"
			}
			atts = append(atts, map[string]any{"type": l.typ, "emailAddress": address(a.Mailbox),
				"status": map[string]any{"response": resp, "time": firstNonEmpty(a.LastResponse, "0001-01-01T00:00:00Z")}})
		}
	}
	if len(atts) > 0 {
		d["attendees"] = atts
	}
	if loc := strings.TrimSpace(it.Location); loc != "" {
		d["location"] = map[string]any{"displayName": loc}
	}
	if u := strings.TrimSpace(it.JoinURL); u != "" {
		d["onlineMeeting"] = map[string]any{"joinUrl": u}
		d["onlineMeetingProvider"] = providerOf(u)
	}
	switch typ {
	case calendar.TypeOccurrence, calendar.TypeException:
		if masterID != "" {
			d["seriesMasterId"] = masterID
		}
		if t, err := parseEWSTime(it.OriginalStart); err == nil {
			d["originalStart"] = graphTimestamp(t)
		}
	}
	data, err := json.Marshal(d)
	if err != nil {
		return nil, calendar.Event{}, fmt.Errorf("item %s: %w", it.ItemID.ID, err)
	}
	ev := calendar.Event{ID: it.ItemID.ID, Type: typ, SeriesMasterID: masterID, ChangeKey: it.ItemID.ChangeKey,
		Start: calendar.FromTime(start), End: calendar.FromTime(end), IsCancelled: isTrue(it.Cancelled)}
	if typ == calendar.TypeSingleInstance || typ == calendar.TypeSeriesMaster {
		ev.SeriesMasterID = ""
	}
	return data, ev, nil
}

func address(m mailboxXML) map[string]any {
	out := map[string]any{}
	if m.Name != "" {
		out["name"] = m.Name
	}
	if m.Address != "" {
		out["address"] = m.Address
	}
	return out
}

// providerOf names the online meeting service of a join URL as Graph's
// onlineMeetingProvider does.
func providerOf(u string) string {
	l := strings.ToLower(u)
	switch {
	case strings.Contains(l, "teams.microsoft.com") || strings.Contains(l, "teams.live.com"):
		return "teamsForBusiness"
	case strings.Contains(l, "lync") || strings.Contains(l, "/meet/"):
		return "skypeForBusiness"
	}
	return "unknown"
}

func bodyType(t string) string {
	if strings.EqualFold(strings.TrimSpace(t), "Text") {
		return "text"
	}
	return "html"
}

func isTrue(s string) bool { return strings.TrimSpace(s) == "true" || strings.TrimSpace(s) == "1" }

// parseEWSTime reads an xs:dateTime (UTC "Z" or with an offset; a bare one is UTC, as
// Exchange means it without a TimeZoneContext).
func parseEWSTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty date-time")
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("date-time %q is not xs:dateTime", s)
}

func graphTimestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }
