package poly

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// serverVersion is the ServerVersionInfo every response carries (Exchange 2013's, as in
// Microsoft's own samples); clients may ask for any RequestServerVersion.
const serverVersion = `<h:ServerVersionInfo MajorVersion="15" MinorVersion="0" MajorBuildNumber="731" MinorBuildNumber="10" Version="V2_3" xmlns:h="` + nsTypes + `" xmlns="` + nsTypes + `" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>`

// EWS response codes the service uses.
const (
	codeNoError             = "NoError"
	codeAccessDenied        = "ErrorAccessDenied"
	codeItemNotFound        = "ErrorItemNotFound"
	codeFolderNotFound      = "ErrorFolderNotFound"
	codeInvalidIDMalformed  = "ErrorInvalidIdMalformed"
	codeNoResults           = "ErrorNameResolutionNoResults"
	codeInvalidRequest      = "ErrorInvalidRequest"
	codeSchemaValidation    = "ErrorSchemaValidation"
	codeEndBeforeStart      = "ErrorCalendarEndDateIsEarlierThanStartDate"
	codeInvalidOperation    = "ErrorInvalidOperation"
	codeInternalServerError = "ErrorInternalServerError"
	codeServerBusy          = "ErrorServerBusy"
)

// supportedOps are the operations served; anything else is a SOAP fault (and captured).
var supportedOps = map[string]bool{"GetFolder": true, "FindItem": true, "GetItem": true, "ResolveNames": true}

// opError is a per-message error inside an operation's response.
type opError struct {
	code string
	msg  string
}

func (e *opError) Error() string { return e.code + ": " + e.msg }

func accessDenied(mailbox string) *opError {
	return &opError{codeAccessDenied, fmt.Sprintf("The account does not have permission to access the mailbox %s.", mailbox)}
}

// call is one request being answered for one account.
type call struct {
	ctx   context.Context
	s     *Service
	acc   *account
	req   *request
	items *roomView
}

// view loads the account's room's items once per call.
func (c *call) view() (*roomView, error) {
	if c.items == nil {
		v, err := c.s.cache.room(c.ctx, c.acc.room)
		if err != nil {
			return nil, err
		}
		c.items = v
	}
	return c.items, nil
}

// answer runs the operation and returns the response envelope, or a fault.
func (c *call) answer() ([]byte, *faultError) {
	var w xmlWriter
	w.raw(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="` + nsSOAP + `"><s:Header>` + serverVersion + `</s:Header>`)
	w.raw(`<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">`)
	op := c.req.Op
	w.raw(`<m:` + op + `Response xmlns:m="` + nsMsgs + `" xmlns:t="` + nsTypes + `"><m:ResponseMessages>`)
	var err error
	if c.req.Impersonate != "" && !c.acc.owns(c.req.Impersonate) {
		writeError(&w, op, accessDenied(c.req.Impersonate))
	} else {
		switch op {
		case "GetFolder":
			err = c.getFolder(&w)
		case "FindItem":
			err = c.findItem(&w)
		case "GetItem":
			err = c.getItem(&w)
		case "ResolveNames":
			err = c.resolveNames(&w)
		}
	}
	if err != nil {
		if f, ok := err.(*faultError); ok {
			return nil, f
		}
		return nil, &faultError{soapCode: "Server", code: codeInternalServerError, msg: "the calendar could not be read; try again shortly", cause: err}
	}
	w.raw(`</m:ResponseMessages></m:` + op + `Response></s:Body></s:Envelope>`)
	return w.bytes(), nil
}

// writeError writes one failed response message. GetItem and GetFolder messages carry an
// empty Items or Folders element, as Exchange's do.
func writeError(w *xmlWriter, op string, e *opError) {
	w.start("m:"+op+"ResponseMessage", "ResponseClass", "Error")
	w.leaf("m:MessageText", e.msg)
	w.leaf("m:ResponseCode", e.code)
	w.leaf("m:DescriptiveLinkKey", "0")
	switch op {
	case "GetItem":
		w.empty("m:Items")
	case "GetFolder":
		w.empty("m:Folders")
	}
	w.end("m:" + op + "ResponseMessage")
}

func writeSuccessStart(w *xmlWriter, op string) {
	w.start("m:"+op+"ResponseMessage", "ResponseClass", "Success")
	w.leaf("m:ResponseCode", codeNoError)
}

// folderTarget resolves a folder reference (DistinguishedFolderId or FolderId) to the
// account's calendar, or says why it cannot.
func (c *call) folderTarget(ref *node) *opError {
	switch ref.Local {
	case "DistinguishedFolderId":
		if mb := ref.child(nsTypes, "Mailbox").child(nsTypes, "EmailAddress").text(); mb != "" && !c.acc.owns(mb) {
			return accessDenied(mb)
		}
		if !strings.EqualFold(ref.attr("Id"), "calendar") {
			return &opError{codeFolderNotFound, fmt.Sprintf("Only the calendar folder is served; %q was asked for.", ref.attr("Id"))}
		}
		return nil
	case "FolderId":
		id := ref.attr("Id")
		if id == folderID(c.acc.room) {
			return nil
		}
		if room, ok := c.s.folderRooms[id]; ok {
			return accessDenied(room)
		}
		return &opError{codeFolderNotFound, "The specified folder could not be found in the store."}
	}
	return &opError{codeInvalidRequest, fmt.Sprintf("Unsupported folder reference %s.", ref.Local)}
}

// folderRefs lists the element children of a FolderIds / ParentFolderIds element.
func folderRefs(n *node) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for _, c := range n.Children {
		if c.Space == nsTypes {
			out = append(out, c)
		}
	}
	return out
}

func (c *call) getFolder(w *xmlWriter) error {
	shape := c.req.Body.child(nsMsgs, "FolderShape").child(nsTypes, "BaseShape").text()
	refs := folderRefs(c.req.Body.child(nsMsgs, "FolderIds"))
	if len(refs) == 0 {
		return clientFault(codeSchemaValidation, "GetFolder names no folder (FolderIds is missing or empty)")
	}
	for _, ref := range refs {
		if e := c.folderTarget(ref); e != nil {
			writeError(w, "GetFolder", e)
			continue
		}
		v, err := c.view()
		if err != nil {
			return err
		}
		writeSuccessStart(w, "GetFolder")
		w.start("m:Folders")
		w.start("t:CalendarFolder")
		w.empty("t:FolderId", "Id", folderID(c.acc.room), "ChangeKey", folderChangeKey(v))
		if shape != "IdOnly" {
			if shape == "AllProperties" {
				w.leaf("t:FolderClass", "IPF.Appointment")
			}
			w.leaf("t:DisplayName", "Calendar")
			w.leaf("t:TotalCount", strconv.Itoa(len(v.items)))
			w.leaf("t:ChildFolderCount", "0")
		}
		w.end("t:CalendarFolder")
		w.end("m:Folders")
		w.end("m:GetFolderResponseMessage")
	}
	return nil
}

// folderChangeKey changes whenever any served item changes.
func folderChangeKey(v *roomView) string {
	var b strings.Builder
	for _, it := range v.items {
		b.WriteString(it.ChangeKey)
	}
	return changeKey(b.String(), "folder")
}

// shape is the set of properties a request asked for.
type shape struct {
	props    map[string]bool
	bodyType string // Text or HTML
}

// parseShape reads an ItemShape: BaseShape, BodyType and AdditionalProperties.
func parseShape(n *node, base map[string][]string, version string) shape {
	bs := n.child(nsTypes, "BaseShape").text()
	set := base[bs]
	if set == nil {
		set = base["Default"]
	}
	sh := shape{props: map[string]bool{}, bodyType: "Text"}
	for _, p := range set {
		sh.props[p] = true
	}
	if bs == "AllProperties" && !strings.HasPrefix(version, "Exchange2007") {
		sh.props["calendar:UID"] = true // Exchange 2010 and later schemas have UID
	}
	for _, f := range n.child(nsTypes, "AdditionalProperties").childrenNamed(nsTypes, "FieldURI") {
		sh.props[f.attr("FieldURI")] = true
	}
	if strings.EqualFold(n.child(nsTypes, "BodyType").text(), "HTML") {
		sh.bodyType = "HTML"
	}
	return sh
}

// Property sets of the base shapes (README "Poly endpoints"). FindItem never returns bodies.
var (
	findShapes = map[string][]string{
		"IdOnly": {},
		"Default": {"item:Subject", "item:Sensitivity", "calendar:Start", "calendar:End", "calendar:IsAllDayEvent",
			"calendar:LegacyFreeBusyStatus", "calendar:Location", "calendar:IsMeeting", "calendar:IsCancelled",
			"calendar:IsRecurring", "calendar:CalendarItemType", "calendar:MyResponseType", "calendar:Organizer"},
	}
	getShapes = map[string][]string{
		"IdOnly": {},
		"Default": {"item:ParentFolderId", "item:ItemClass", "item:Subject", "item:Sensitivity", "item:Body",
			"item:Importance", "item:ReminderIsSet", "item:ReminderMinutesBeforeStart", "item:HasAttachments",
			"calendar:Start", "calendar:End", "calendar:IsAllDayEvent", "calendar:LegacyFreeBusyStatus",
			"calendar:Location", "calendar:IsMeeting", "calendar:IsCancelled", "calendar:IsRecurring",
			"calendar:CalendarItemType", "calendar:MyResponseType", "calendar:Organizer", "calendar:Duration",
			"calendar:AppointmentState"},
	}
)

func init() {
	all := make([]string, 0, len(getShapes["Default"]))
	for _, p := range getShapes["Default"] {
		if p != "item:Body" {
			all = append(all, p)
		}
	}
	findShapes["AllProperties"] = all
	getShapes["AllProperties"] = getShapes["Default"]
}

// writeItem writes one CalendarItem with the shape's properties, in schema order.
func (c *call) writeItem(w *xmlWriter, it *item, sh shape) {
	m := &it.M
	has := sh.props
	w.start("t:CalendarItem")
	w.empty("t:ItemId", "Id", it.ID, "ChangeKey", it.ChangeKey)
	if has["item:ParentFolderId"] {
		w.empty("t:ParentFolderId", "Id", folderID(c.acc.room), "ChangeKey", "AQAAAA")
	}
	if has["item:ItemClass"] {
		w.leaf("t:ItemClass", "IPM.Appointment")
	}
	if has["item:Subject"] {
		w.leaf("t:Subject", limitRunes(m.Subject, 255))
	}
	if has["item:Sensitivity"] {
		w.leaf("t:Sensitivity", sensitivity(m.Private))
	}
	if has["item:Body"] {
		if sh.bodyType == "HTML" {
			w.leaf("t:Body", bodyHTML(it.BodyText), "BodyType", "HTML")
		} else {
			w.leaf("t:Body", it.BodyText, "BodyType", "Text")
		}
	}
	if has["item:Importance"] {
		w.leaf("t:Importance", "Normal")
	}
	if has["item:ReminderIsSet"] {
		w.leaf("t:ReminderIsSet", "false")
	}
	if has["item:ReminderMinutesBeforeStart"] {
		w.leaf("t:ReminderMinutesBeforeStart", "15")
	}
	if has["item:HasAttachments"] {
		w.leaf("t:HasAttachments", "false")
	}
	if has["calendar:UID"] && m.ICalUID != "" {
		w.leaf("t:UID", m.ICalUID)
	}
	if has["calendar:Start"] {
		w.leaf("t:Start", ewsTime(m.Start))
	}
	if has["calendar:End"] {
		w.leaf("t:End", ewsTime(m.End))
	}
	if has["calendar:IsAllDayEvent"] {
		w.leaf("t:IsAllDayEvent", strconv.FormatBool(m.AllDay))
	}
	if has["calendar:LegacyFreeBusyStatus"] {
		w.leaf("t:LegacyFreeBusyStatus", pick(m.Tentative, "Tentative", "Busy"))
	}
	if has["calendar:Location"] && it.DialString != "" {
		w.leaf("t:Location", it.DialString)
	}
	if has["calendar:IsMeeting"] {
		w.leaf("t:IsMeeting", "true")
	}
	if has["calendar:IsCancelled"] {
		w.leaf("t:IsCancelled", "false")
	}
	if has["calendar:IsRecurring"] {
		w.leaf("t:IsRecurring", strconv.FormatBool(m.Recurring))
	}
	if has["calendar:CalendarItemType"] {
		w.leaf("t:CalendarItemType", pick(m.Recurring, "Occurrence", "Single"))
	}
	if has["calendar:MyResponseType"] {
		w.leaf("t:MyResponseType", pick(m.Tentative, "Tentative", "Accept"))
	}
	if has["calendar:Organizer"] && (m.Organizer != "" || m.OrganizerEmail != "") {
		w.start("t:Organizer")
		w.start("t:Mailbox")
		if m.Organizer != "" {
			w.leaf("t:Name", m.Organizer)
		}
		if m.OrganizerEmail != "" {
			w.leaf("t:EmailAddress", m.OrganizerEmail)
			w.leaf("t:RoutingType", "SMTP")
		}
		w.end("t:Mailbox")
		w.end("t:Organizer")
	}
	if has["calendar:Duration"] {
		w.leaf("t:Duration", isoDuration(m.End.Sub(m.Start)))
	}
	if has["calendar:AppointmentState"] {
		w.leaf("t:AppointmentState", "3") // a meeting (1) the room received (2)
	}
	w.end("t:CalendarItem")
}

func (c *call) findItem(w *xmlWriter) error {
	b := c.req.Body
	sh := parseShape(b.child(nsMsgs, "ItemShape"), findShapes, c.req.Version)
	refs := folderRefs(b.child(nsMsgs, "ParentFolderIds"))
	if len(refs) == 0 {
		return clientFault(codeSchemaValidation, "FindItem names no folder (ParentFolderIds is missing or empty)")
	}
	for _, ref := range refs {
		if e := c.folderTarget(ref); e != nil {
			writeError(w, "FindItem", e)
			continue
		}
		v, err := c.view()
		if err != nil {
			return err
		}
		var list []*item
		var offset, limit int
		attrs := []string{}
		if cv := b.child(nsMsgs, "CalendarView"); cv != nil {
			start, err1 := parseEWSTime(cv.attr("StartDate"))
			end, err2 := parseEWSTime(cv.attr("EndDate"))
			if err1 != nil || err2 != nil {
				return clientFault(codeSchemaValidation, "CalendarView StartDate and EndDate must be xs:dateTime values (got %q and %q)", cv.attr("StartDate"), cv.attr("EndDate"))
			}
			if end.Before(start) {
				writeError(w, "FindItem", &opError{codeEndBeforeStart, "EndDate is earlier than StartDate"})
				continue
			}
			if limit, err = parseMax(cv.attr("MaxEntriesReturned")); err != nil {
				return err
			}
			list = v.between(start, end)
		} else {
			// Not a calendar view: EWS would return single items and recurring masters. The
			// store holds expanded occurrences only, so every stored occurrence is returned,
			// which is what a calendar client needs (README "Poly endpoints").
			list = v.items
			if pv := b.child(nsMsgs, "IndexedPageItemView"); pv != nil {
				if limit, err = parseMax(pv.attr("MaxEntriesReturned")); err != nil {
					return err
				}
				if o := pv.attr("Offset"); o != "" {
					offset, err = strconv.Atoi(o)
					if err != nil || offset < 0 {
						return clientFault(codeSchemaValidation, "IndexedPageItemView Offset %q is not a non-negative number", o)
					}
				}
				if strings.EqualFold(pv.attr("BasePoint"), "End") {
					// Offset counts back from the end of the list.
					offset = max(0, len(list)-offset-maxOr(limit, len(list)))
				}
				attrs = append(attrs, "IndexedPagingOffset", "")
			}
		}
		total := len(list)
		page := list[min(offset, total):]
		last := true
		if limit > 0 && len(page) > limit {
			page, last = page[:limit], false
		}
		if len(attrs) > 0 {
			attrs[1] = strconv.Itoa(min(offset, total) + len(page))
		}
		writeSuccessStart(w, "FindItem")
		w.start("m:RootFolder", append(attrs, "TotalItemsInView", strconv.Itoa(total), "IncludesLastItemInRange", strconv.FormatBool(last))...)
		w.start("t:Items")
		for _, it := range page {
			c.writeItem(w, it, sh)
		}
		w.end("t:Items")
		w.end("m:RootFolder")
		w.end("m:FindItemResponseMessage")
	}
	return nil
}

func maxOr(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

// parseMax reads MaxEntriesReturned (absent: no limit).
func parseMax(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, clientFault(codeSchemaValidation, "MaxEntriesReturned %q is not a positive number", s)
	}
	return n, nil
}

func (c *call) getItem(w *xmlWriter) error {
	b := c.req.Body
	sh := parseShape(b.child(nsMsgs, "ItemShape"), getShapes, c.req.Version)
	ids := b.child(nsMsgs, "ItemIds")
	if ids == nil || len(ids.Children) == 0 {
		return clientFault(codeSchemaValidation, "GetItem names no item (ItemIds is missing or empty)")
	}
	for _, ref := range ids.Children {
		if ref.Local != "ItemId" || ref.Space != nsTypes {
			writeError(w, "GetItem", &opError{codeItemNotFound, fmt.Sprintf("%s references are not served; use the ItemId from FindItem.", ref.Local)})
			continue
		}
		id := ref.attr("Id")
		if !validItemID(id) {
			writeError(w, "GetItem", &opError{codeInvalidIDMalformed, "Id is malformed."})
			continue
		}
		v, err := c.view()
		if err != nil {
			return err
		}
		it := v.byID[id]
		if it == nil {
			writeError(w, "GetItem", &opError{codeItemNotFound, "The specified object was not found in the store."})
			continue
		}
		writeSuccessStart(w, "GetItem")
		w.start("m:Items")
		c.writeItem(w, it, sh)
		w.end("m:Items")
		w.end("m:GetItemResponseMessage")
	}
	return nil
}

// validItemID reports whether id can be one of the service's ItemIds.
func validItemID(id string) bool {
	if len(id) != 34 {
		return false
	}
	for _, r := range id {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func (c *call) resolveNames(w *xmlWriter) error {
	entry := strings.TrimSpace(c.req.Body.child(nsMsgs, "UnresolvedEntry").text())
	if entry == "" {
		return clientFault(codeSchemaValidation, "ResolveNames has no UnresolvedEntry")
	}
	e := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(entry, "SMTP:"), "smtp:"))
	local, _, _ := strings.Cut(c.acc.room, "@")
	if !c.acc.owns(e) && e != local {
		writeError(w, "ResolveNames", &opError{codeNoResults, "No results were found."})
		return nil
	}
	writeSuccessStart(w, "ResolveNames")
	w.start("m:ResolutionSet", "TotalItemsInView", "1", "IncludesLastItemInRange", "true")
	w.start("t:Resolution")
	w.start("t:Mailbox")
	w.leaf("t:Name", local)
	w.leaf("t:EmailAddress", c.acc.room)
	w.leaf("t:RoutingType", "SMTP")
	w.leaf("t:MailboxType", "Mailbox")
	w.end("t:Mailbox")
	w.end("t:Resolution")
	w.end("m:ResolutionSet")
	w.end("m:ResolveNamesResponseMessage")
	return nil
}

// faultBody is a SOAP 1.1 fault with the EWS response code in its detail, as Exchange sends.
func faultBody(f *faultError) []byte {
	var w xmlWriter
	w.raw(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="` + nsSOAP + `"><s:Body><s:Fault>`)
	w.leaf("faultcode", "s:"+f.soapCode)
	w.leaf("faultstring", f.msg, "xml:lang", "en-US")
	w.raw(`<detail>`)
	w.leaf("e:ResponseCode", f.code, "xmlns:e", nsErrors)
	w.leaf("e:Message", f.msg, "xmlns:e", nsErrors)
	if f.backOff > 0 {
		w.raw(`<t:MessageXml xmlns:t="` + nsTypes + `">`)
		w.leaf("t:Value", strconv.FormatInt(f.backOff.Milliseconds(), 10), "Name", "BackOffMilliseconds")
		w.raw(`</t:MessageXml>`)
	}
	w.raw(`</detail></s:Fault></s:Body></s:Envelope>`)
	return w.bytes()
}

func sensitivity(private bool) string { return pick(private, "Private", "Normal") }

func pick(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}

// ewsTime is a UTC xs:dateTime with Z, the only form served (the endpoint converts to its own
// time zone).
func ewsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// parseEWSTime reads an xs:dateTime: with Z, with an offset, or without a zone (taken as UTC,
// as Exchange does without a TimeZoneContext).
func parseEWSTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not an xs:dateTime: %q", s)
}

// isoDuration is an xs:duration such as PT1H30M.
func isoDuration(d time.Duration) string {
	if d <= 0 {
		return "PT0S"
	}
	var b strings.Builder
	b.WriteString("P")
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dD", days)
		d -= days * 24 * time.Hour
	}
	if d > 0 {
		b.WriteString("T")
		if h := d / time.Hour; h > 0 {
			fmt.Fprintf(&b, "%dH", h)
			d -= h * time.Hour
		}
		if m := d / time.Minute; m > 0 {
			fmt.Fprintf(&b, "%dM", m)
			d -= m * time.Minute
		}
		if s := d / time.Second; s > 0 {
			fmt.Fprintf(&b, "%dS", s)
		}
	}
	return b.String()
}

// limitRunes cuts s to n characters (EWS subjects are at most 255).
func limitRunes(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}
