package ewssim

import (
	"fmt"
	"html"
	"regexp"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// Where an item is rendered: FindItem and SyncFolderItems cannot return bodies or recipient
// lists (ErrorInvalidPropertyRequest), GetItem can.
const (
	ctxFind = "find"
	ctxSync = "sync"
	ctxGet  = "get"
)

// shape is a parsed ItemShape.
type shape struct {
	base     string // IdOnly, Default, AllProperties
	props    map[string]bool
	bodyType string // HTML, Text, Best
	ctx      string
}

// defaultProps are what BaseShape Default returns for a calendar item.
var defaultProps = []string{"item:ItemClass", "item:Subject", "item:Sensitivity", "calendar:Start", "calendar:End",
	"calendar:IsAllDayEvent", "calendar:LegacyFreeBusyStatus", "calendar:Location", "calendar:CalendarItemType", "calendar:Organizer"}

// allProps are every property rendered here.
var allProps = append([]string{"item:Body", "item:DateTimeCreated", "item:LastModifiedTime", "calendar:UID",
	"calendar:RecurrenceId", "calendar:OriginalStart", "calendar:IsMeeting", "calendar:IsCancelled", "calendar:IsRecurring",
	"calendar:RequiredAttendees", "calendar:OptionalAttendees", "calendar:Resources", "calendar:ModifiedOccurrences",
	"calendar:DeletedOccurrences", "calendar:IsOnlineMeeting", "calendar:JoinOnlineMeetingUrl", "calendar:OnlineMeetingSettings"},
	defaultProps...)

// heavy are the properties FindItem and SyncFolderItems refuse.
var heavy = map[string]bool{"item:Body": true, "item:UniqueBody": true, "item:TextBody": true, "calendar:RequiredAttendees": true,
	"calendar:OptionalAttendees": true, "calendar:Resources": true, "calendar:ModifiedOccurrences": true, "calendar:DeletedOccurrences": true}

func parseShape(n *node, ctx string) (shape, string) {
	sh := shape{base: n.child("BaseShape").text(), props: map[string]bool{}, bodyType: n.child("BodyType").text(), ctx: ctx}
	if sh.bodyType == "" {
		sh.bodyType = "Best"
	}
	switch sh.base {
	case "IdOnly":
	case "Default":
		for _, p := range defaultProps {
			sh.props[p] = true
		}
		if ctx == ctxGet {
			for _, p := range []string{"item:Body", "calendar:RequiredAttendees", "calendar:OptionalAttendees", "calendar:Resources"} {
				sh.props[p] = true
			}
		}
	case "AllProperties":
		for _, p := range allProps {
			if ctx == ctxGet || !heavy[p] {
				sh.props[p] = true
			}
		}
	default:
		return sh, "ErrorSchemaValidation"
	}
	for _, f := range n.child("AdditionalProperties").all("FieldURI") {
		uri := f.attr("FieldURI")
		if ctx != ctxGet && heavy[uri] {
			return sh, "ErrorInvalidPropertyRequest"
		}
		sh.props[uri] = true
	}
	return sh, ""
}

// itemTypes are EWS CalendarItemType values by graphsim kind.
var itemTypes = map[string]string{graphsim.KindSingle: "Single", graphsim.KindOccurrence: "Occurrence",
	graphsim.KindException: "Exception", graphsim.KindMaster: "RecurringMaster"}

func ewsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func itemIDXML(mailbox string, it graphsim.SharedItem) string {
	return `<t:ItemId Id="` + encodeItemID(mailbox, it.ID) + `" ChangeKey="` + it.ChangeKey + `"/>`
}

// renderItem is a t:CalendarItem in schema order with the shape's properties.
func renderItem(mailbox string, it graphsim.SharedItem, sh shape) string {
	d := it.Doc
	var b strings.Builder
	b.WriteString("<t:CalendarItem>")
	b.WriteString(itemIDXML(mailbox, it))
	el := func(uri, name, val string) {
		if sh.props[uri] {
			b.WriteString("<t:" + name + ">" + esc(val) + "</t:" + name + ">")
		}
	}
	el("item:ItemClass", "ItemClass", "IPM.Appointment")
	el("item:Subject", "Subject", str(d, "subject"))
	el("item:Sensitivity", "Sensitivity", title(str(d, "sensitivity"), "Normal"))
	if sh.props["item:Body"] {
		ct, content := str(d, "body", "contentType"), str(d, "body", "content")
		bt := "HTML"
		if strings.EqualFold(ct, "text") {
			bt = "Text"
		}
		switch {
		case sh.bodyType == "Text" && bt == "HTML":
			bt, content = "Text", htmlToText(content)
		case sh.bodyType == "HTML" && bt == "Text":
			bt, content = "HTML", "<html><body>"+html.EscapeString(content)+"</body></html>"
		}
		b.WriteString(`<t:Body BodyType="` + bt + `">` + esc(content) + `</t:Body>`)
	}
	el("item:DateTimeCreated", "DateTimeCreated", ewsTime(it.Created))
	el("item:LastModifiedTime", "LastModifiedTime", ewsTime(it.Modified))
	el("calendar:UID", "UID", it.ICalUID)
	occ := it.Kind == graphsim.KindOccurrence || it.Kind == graphsim.KindException
	if occ {
		el("calendar:RecurrenceId", "RecurrenceId", ewsTime(it.OriginalStart))
	}
	el("calendar:Start", "Start", ewsTime(it.Start))
	el("calendar:End", "End", ewsTime(it.End))
	if occ {
		el("calendar:OriginalStart", "OriginalStart", ewsTime(it.OriginalStart))
	}
	el("calendar:IsAllDayEvent", "IsAllDayEvent", boolStr(d["isAllDay"] == true))
	el("calendar:LegacyFreeBusyStatus", "LegacyFreeBusyStatus", freeBusy(str(d, "showAs")))
	el("calendar:Location", "Location", str(d, "location", "displayName"))
	el("calendar:IsMeeting", "IsMeeting", "true")
	el("calendar:IsCancelled", "IsCancelled", boolStr(d["isCancelled"] == true))
	el("calendar:IsRecurring", "IsRecurring", boolStr(it.Kind != graphsim.KindSingle))
	el("calendar:CalendarItemType", "CalendarItemType", itemTypes[it.Kind])
	if sh.props["calendar:Organizer"] {
		name, addr := str(d, "organizer", "emailAddress", "name"), str(d, "organizer", "emailAddress", "address")
		if sh.ctx == ctxFind {
			addr = "" // FindItem returns only the organizer's name
		}
		b.WriteString("<t:Organizer>" + mailboxXML(name, addr) + "</t:Organizer>")
	}
	for _, a := range [][3]string{{"calendar:RequiredAttendees", "RequiredAttendees", "required"},
		{"calendar:OptionalAttendees", "OptionalAttendees", "optional"}, {"calendar:Resources", "Resources", "resource"}} {
		if sh.props[a[0]] {
			b.WriteString(attendees(d, a[1], a[2]))
		}
	}
	if it.Kind == graphsim.KindMaster {
		if sh.props["calendar:ModifiedOccurrences"] && len(it.Exceptions) > 0 {
			b.WriteString("<t:ModifiedOccurrences>")
			for _, x := range it.Exceptions {
				b.WriteString("<t:Occurrence>" + itemIDXML(mailbox, x) + "<t:Start>" + ewsTime(x.Start) + "</t:Start><t:End>" +
					ewsTime(x.End) + "</t:End><t:OriginalStart>" + ewsTime(x.OriginalStart) + "</t:OriginalStart></t:Occurrence>")
			}
			b.WriteString("</t:ModifiedOccurrences>")
		}
		if sh.props["calendar:DeletedOccurrences"] && len(it.Deleted) > 0 {
			b.WriteString("<t:DeletedOccurrences>")
			for _, t := range it.Deleted {
				b.WriteString("<t:DeletedOccurrence><t:Start>" + ewsTime(t) + "</t:Start></t:DeletedOccurrence>")
			}
			b.WriteString("</t:DeletedOccurrences>")
		}
	}
	online := d["isOnlineMeeting"] == true
	el("calendar:IsOnlineMeeting", "IsOnlineMeeting", boolStr(online))
	// JoinOnlineMeetingUrl is filled from the online meeting's join URL when there is one
	// (research §A3: whether Teams links populate it on premises is unconfirmed; see notes).
	if join := str(d, "onlineMeeting", "joinUrl"); join != "" {
		el("calendar:JoinOnlineMeetingUrl", "JoinOnlineMeetingUrl", join)
		if sh.props["calendar:OnlineMeetingSettings"] {
			b.WriteString("<t:OnlineMeetingSettings><t:LobbyBypass>EnabledForGatewayParticipants</t:LobbyBypass>" +
				"<t:AccessLevel>Everyone</t:AccessLevel><t:Presenters>Everyone</t:Presenters></t:OnlineMeetingSettings>")
		}
	}
	b.WriteString("</t:CalendarItem>")
	return b.String()
}

func mailboxXML(name, addr string) string {
	s := "<t:Mailbox><t:Name>" + esc(name) + "</t:Name>"
	if addr != "" {
		s += "<t:EmailAddress>" + esc(addr) + "</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox</t:MailboxType>"
	}
	return s + "</t:Mailbox>"
}

func attendees(d map[string]any, elem, kind string) string {
	list, _ := d["attendees"].([]any)
	var b strings.Builder
	for _, a := range list {
		am, _ := a.(map[string]any)
		if str(am, "type") != kind {
			continue
		}
		b.WriteString("<t:Attendee>" + mailboxXML(str(am, "emailAddress", "name"), str(am, "emailAddress", "address")) +
			"<t:ResponseType>" + responseType(str(am, "status", "response")) + "</t:ResponseType></t:Attendee>")
	}
	if b.Len() == 0 {
		return ""
	}
	return "<t:" + elem + ">" + b.String() + "</t:" + elem + ">"
}

func responseType(graph string) string {
	switch graph {
	case "accepted":
		return "Accept"
	case "tentativelyAccepted":
		return "Tentative"
	case "declined":
		return "Decline"
	case "organizer":
		return "Organizer"
	case "notResponded":
		return "NoResponseReceived"
	}
	return "Unknown"
}

func freeBusy(showAs string) string {
	switch showAs {
	case "free":
		return "Free"
	case "tentative":
		return "Tentative"
	case "oof":
		return "OOF"
	case "workingElsewhere":
		return "WorkingElsewhere"
	}
	return "Busy"
}

// str reads a nested string of a Graph document.
func str(m map[string]any, keys ...string) string {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[k]
	}
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

func title(s, def string) string {
	if s == "" {
		return def
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func boolStr(b bool) string { return fmt.Sprint(b) }

var tagRE = regexp.MustCompile(`(?s)<(style|head|script)[^>]*>.*?</(style|head|script)>|<[^>]+>`)

func htmlToText(h string) string {
	return strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(h, " ")))
}
