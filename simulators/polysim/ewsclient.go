package polysim

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Namespaces a strict EWS client insists on (prefixes are free, namespaces exact).
const (
	nsSOAP  = "http://schemas.xmlsoap.org/soap/envelope/"
	nsMsgs  = "http://schemas.microsoft.com/exchange/services/2006/messages"
	nsTypes = "http://schemas.microsoft.com/exchange/services/2006/types"
)

// calendarItemOrder is CalendarItemType's element sequence in the EWS schema (types.xsd,
// Exchange 2010 and later): ItemType's elements, then the calendar ones. A strict client
// rejects an item whose elements are out of this order or not in it.
var calendarItemOrder = []string{
	// ItemType
	"MimeContent", "ItemId", "ParentFolderId", "ItemClass", "Subject", "Sensitivity", "Body", "Attachments",
	"DateTimeReceived", "Size", "Categories", "Importance", "InReplyTo", "IsSubmitted", "IsDraft", "IsFromMe",
	"IsResend", "IsUnmodified", "InternetMessageHeaders", "DateTimeSent", "DateTimeCreated", "ResponseObjects",
	"ReminderDueBy", "ReminderIsSet", "ReminderMinutesBeforeStart", "DisplayCc", "DisplayTo", "HasAttachments",
	"ExtendedProperty", "Culture", "EffectiveRights", "LastModifiedName", "LastModifiedTime", "IsAssociated",
	"WebClientReadFormQueryString", "WebClientEditFormQueryString", "ConversationId", "UniqueBody",
	// CalendarItemType
	"UID", "RecurrenceId", "DateTimeStamp", "Start", "End", "OriginalStart", "IsAllDayEvent",
	"LegacyFreeBusyStatus", "Location", "When", "IsMeeting", "IsCancelled", "IsRecurring",
	"MeetingRequestWasSent", "IsResponseRequested", "CalendarItemType", "MyResponseType", "Organizer",
	"RequiredAttendees", "OptionalAttendees", "Resources", "ConflictingMeetingCount", "AdjacentMeetingCount",
	"ConflictingMeetings", "AdjacentMeetings", "Duration", "TimeZone", "AppointmentReplyTime",
	"AppointmentSequenceNumber", "AppointmentState", "Recurrence", "FirstOccurrence", "LastOccurrence",
	"ModifiedOccurrences", "DeletedOccurrences", "MeetingTimeZone", "StartTimeZone", "EndTimeZone",
	"ConferenceType", "AllowNewTimeProposal", "IsOnlineMeeting", "MeetingWorkspaceUrl", "NetShowUrl",
}

var calendarItemRank = func() map[string]int {
	m := map[string]int{}
	for i, n := range calendarItemOrder {
		m[n] = i
	}
	return m
}()

// Errors a poll ends with; they drive the calendar state the endpoint reports.
var (
	errAuth = errors.New("the calendar server refused the credentials (HTTP 401)")
)

// protocolError is a response a strict client cannot accept (→ ERR_UNKNOWN).
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

func protoErr(format string, args ...any) error { return &protocolError{fmt.Sprintf(format, args...)} }

// transportError is a network, TLS or HTTP-level failure (→ OFFLINE).
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// elem is a parsed response element.
type elem struct {
	Space, Local string
	Attrs        []xml.Attr
	Text         string
	Kids         []*elem
}

func (e *elem) kid(space, local string) *elem {
	if e == nil {
		return nil
	}
	for _, k := range e.Kids {
		if k.Space == space && k.Local == local {
			return k
		}
	}
	return nil
}

func (e *elem) kids(space, local string) []*elem {
	if e == nil {
		return nil
	}
	var out []*elem
	for _, k := range e.Kids {
		if k.Space == space && k.Local == local {
			out = append(out, k)
		}
	}
	return out
}

func (e *elem) attr(name string) (string, bool) {
	if e == nil {
		return "", false
	}
	for _, a := range e.Attrs {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value, true
		}
	}
	return "", false
}

// parseDoc reads a response document.
func parseDoc(b []byte) (*elem, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var stack []*elem
	var root *elem
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, protoErr("the response is not well-formed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			e := &elem{Space: t.Name.Space, Local: t.Name.Local}
			for _, a := range t.Attr {
				if a.Name.Space != "xmlns" && !(a.Name.Space == "" && a.Name.Local == "xmlns") {
					e.Attrs = append(e.Attrs, a)
				}
			}
			if len(stack) == 0 {
				if root != nil {
					return nil, protoErr("the response has two root elements")
				}
				root = e
			} else {
				p := stack[len(stack)-1]
				p.Kids = append(p.Kids, e)
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].Text += string(t)
			}
		case xml.Directive:
			return nil, protoErr("the response carries a DTD")
		}
	}
	if root == nil {
		return nil, protoErr("the response is empty")
	}
	return root, nil
}

// soapFault is a SOAP fault the server answered with.
type soapFault struct {
	Code, String, ResponseCode string
}

func (f *soapFault) Error() string {
	return fmt.Sprintf("SOAP fault %s: %s (%s)", f.Code, f.String, f.ResponseCode)
}

// ewsCall posts one SOAP request and returns the operation's response element, checked for
// the envelope, the ServerVersionInfo header and the namespaces.
func (ep *Endpoint) ewsCall(ctx context.Context, op, body string) (*elem, error) {
	req := envelope(ep.opts.RequestServerVersion, body)
	status, resp, err := ep.post(ctx, ep.opts.EWSURL, "http://schemas.microsoft.com/exchange/services/2006/messages/"+op, []byte(req), ep.password())
	ep.logRequest(op, status, err)
	if err != nil {
		return nil, &transportError{err}
	}
	switch {
	case status == http.StatusUnauthorized:
		return nil, errAuth
	case status == http.StatusInternalServerError:
		if f := parseFault(resp); f != nil {
			return nil, f
		}
		return nil, &transportError{fmt.Errorf("HTTP 500 without a SOAP fault")}
	case status != http.StatusOK:
		return nil, &transportError{fmt.Errorf("HTTP %d", status)}
	}
	root, err := parseDoc(resp)
	if err != nil {
		return nil, err
	}
	if root.Space != nsSOAP || root.Local != "Envelope" {
		return nil, protoErr("the response is not a SOAP 1.1 envelope: {%s}%s", root.Space, root.Local)
	}
	hdr := root.kid(nsSOAP, "Header")
	if hdr.kid(nsTypes, "ServerVersionInfo") == nil {
		return nil, protoErr("the response has no ServerVersionInfo header in %s", nsTypes)
	}
	body2 := root.kid(nsSOAP, "Body")
	if body2 == nil || len(body2.Kids) != 1 {
		return nil, protoErr("the response's SOAP Body does not hold exactly one element")
	}
	r := body2.Kids[0]
	if r.Space != nsMsgs || r.Local != op+"Response" {
		return nil, protoErr("expected {%s}%sResponse, got {%s}%s", nsMsgs, op, r.Space, r.Local)
	}
	return r, nil
}

func parseFault(b []byte) *soapFault {
	root, err := parseDoc(b)
	if err != nil {
		return nil
	}
	f := root.kid(nsSOAP, "Body").kid(nsSOAP, "Fault")
	if f == nil {
		return nil
	}
	out := &soapFault{Code: strings.TrimSpace(f.kid("", "faultcode").textOr()), String: strings.TrimSpace(f.kid("", "faultstring").textOr())}
	if d := f.kid("", "detail"); d != nil {
		for _, k := range d.Kids {
			if k.Local == "ResponseCode" {
				out.ResponseCode = strings.TrimSpace(k.Text)
			}
		}
	}
	return out
}

func (e *elem) textOr() string {
	if e == nil {
		return ""
	}
	return e.Text
}

// responseMessages returns the operation's response messages, each checked for a
// ResponseClass and a ResponseCode (msgErr tells which ones failed).
func responseMessages(r *elem, op string) ([]*elem, error) {
	rms := r.kid(nsMsgs, "ResponseMessages")
	if rms == nil {
		return nil, protoErr("%sResponse has no ResponseMessages", op)
	}
	msgs := rms.kids(nsMsgs, op+"ResponseMessage")
	if len(msgs) == 0 || len(msgs) != len(rms.Kids) {
		return nil, protoErr("ResponseMessages must hold only %sResponseMessage elements", op)
	}
	for _, m := range msgs {
		class, ok := m.attr("ResponseClass")
		if !ok {
			return nil, protoErr("%sResponseMessage has no ResponseClass", op)
		}
		if m.kid(nsMsgs, "ResponseCode") == nil {
			return nil, protoErr("%sResponseMessage has no ResponseCode", op)
		}
		if class != "Success" && class != "Warning" && class != "Error" {
			return nil, protoErr("ResponseClass %q is not Success, Warning or Error", class)
		}
	}
	return msgs, nil
}

// msgErr is a response message's error, or nil when it succeeded.
func msgErr(m *elem) *ewsError {
	if class, _ := m.attr("ResponseClass"); class != "Error" {
		return nil
	}
	return &ewsError{Code: strings.TrimSpace(m.kid(nsMsgs, "ResponseCode").textOr()), Message: strings.TrimSpace(m.kid(nsMsgs, "MessageText").textOr())}
}

// ewsError is a per-message EWS error.
type ewsError struct{ Code, Message string }

func (e *ewsError) Error() string { return e.Code + ": " + e.Message }

// served is one CalendarItem as received.
type served struct {
	ID, ChangeKey      string
	Subject            string
	Private            bool
	Start, End         time.Time
	Location, Body     string
	BodyType           string
	Organizer          string
	Recurring          bool
	hasStart, hasEnd   bool
	hasBody            bool
	calendarItemTypeOK bool
}

// parseItem reads and checks one CalendarItem: namespaces, schema order, id form and UTC times.
func parseItem(e *elem, strictOrder bool) (served, error) {
	var it served
	last := -1
	for _, k := range e.Kids {
		if k.Space != nsTypes {
			return it, protoErr("CalendarItem child %s is in namespace %q, not %s", k.Local, k.Space, nsTypes)
		}
		rank, known := calendarItemRank[k.Local]
		if !known {
			return it, protoErr("CalendarItem has an element %s the schema does not know", k.Local)
		}
		if strictOrder && rank <= last {
			return it, protoErr("CalendarItem element %s is out of schema order", k.Local)
		}
		last = rank
		text := k.Text
		switch k.Local {
		case "ItemId":
			it.ID, _ = k.attr("Id")
			it.ChangeKey, _ = k.attr("ChangeKey")
			if it.ID == "" || it.ChangeKey == "" {
				return it, protoErr("ItemId without Id or ChangeKey")
			}
			if strings.ContainsAny(it.ID, "| \r\n\t") {
				return it, protoErr("ItemId %q contains '|', white space or a line break", it.ID)
			}
		case "Subject":
			it.Subject = text
		case "Sensitivity":
			it.Private = strings.TrimSpace(text) == "Private" || strings.TrimSpace(text) == "Confidential"
		case "Body":
			it.Body, it.hasBody = text, true
			it.BodyType, _ = k.attr("BodyType")
		case "Start", "End":
			t, err := parseUTC(text)
			if err != nil {
				return it, err
			}
			if k.Local == "Start" {
				it.Start, it.hasStart = t, true
			} else {
				it.End, it.hasEnd = t, true
			}
		case "Location":
			it.Location = text
		case "IsRecurring":
			it.Recurring = strings.TrimSpace(text) == "true"
		case "CalendarItemType":
			switch strings.TrimSpace(text) {
			case "Single", "Occurrence", "Exception":
				it.calendarItemTypeOK = true
			default:
				return it, protoErr("CalendarItemType %q is not an occurrence (masters never belong in a calendar view)", text)
			}
		case "Organizer":
			mb := k.kid(nsTypes, "Mailbox")
			it.Organizer = strings.TrimSpace(mb.kid(nsTypes, "Name").textOr())
		}
	}
	if it.ID == "" {
		return it, protoErr("CalendarItem without ItemId")
	}
	return it, nil
}

// parseUTC accepts only xs:dateTime in UTC with Z, as a device without time-zone handling.
func parseUTC(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if !strings.HasSuffix(s, "Z") {
		return time.Time{}, protoErr("time %q is not UTC (no Z)", s)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, protoErr("time %q is not an xs:dateTime", s)
	}
	return t, nil
}

// envelope wraps an operation in a SOAP 1.1 envelope, as a Poly endpoint sends it.
func envelope(version, body string) string {
	return `<?xml version="1.0" encoding="utf-8"?>` +
		`<soap:Envelope xmlns:soap="` + nsSOAP + `" xmlns:t="` + nsTypes + `" xmlns:m="` + nsMsgs + `">` +
		`<soap:Header><t:RequestServerVersion Version="` + xmlEsc(version) + `"/></soap:Header>` +
		`<soap:Body>` + body + `</soap:Body></soap:Envelope>`
}

func xmlEsc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func getFolderBody(mailbox string) string {
	return `<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>` +
		`<t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>` + xmlEsc(mailbox) + `</t:EmailAddress></t:Mailbox>` +
		`</t:DistinguishedFolderId></m:FolderIds></m:GetFolder>`
}

func findItemBody(folderID, changeKey string, start, end time.Time, max int) string {
	return `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>` +
		fmt.Sprintf(`<m:CalendarView MaxEntriesReturned="%d" StartDate="%s" EndDate="%s"/>`, max,
			start.UTC().Format("2006-01-02T15:04:05Z"), end.UTC().Format("2006-01-02T15:04:05Z")) +
		`<m:ParentFolderIds><t:FolderId Id="` + xmlEsc(folderID) + `" ChangeKey="` + xmlEsc(changeKey) + `"/></m:ParentFolderIds></m:FindItem>`
}

func getItemBody(ids []served) string {
	var b strings.Builder
	b.WriteString(`<m:GetItem><m:ItemShape><t:BaseShape>Default</t:BaseShape><t:BodyType>Text</t:BodyType></m:ItemShape><m:ItemIds>`)
	for _, it := range ids {
		b.WriteString(`<t:ItemId Id="` + xmlEsc(it.ID) + `" ChangeKey="` + xmlEsc(it.ChangeKey) + `"/>`)
	}
	b.WriteString(`</m:ItemIds></m:GetItem>`)
	return b.String()
}

const autodiscoverReq = `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>%s</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
