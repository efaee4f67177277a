package ewssim

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// MaxSyncChanges is the largest MaxChangesReturned SyncFolderItems accepts.
const MaxSyncChanges = 512

// syncState is what a SyncState blob carries: the items the client has been told about. It is
// gzipped JSON in base64, so it starts "H4sI" like Exchange's.
type syncState struct {
	Mailbox string            `json:"m"`
	Items   map[string]string `json:"i"` // graphsim id → changeKey
}

func encodeSyncState(st syncState) string {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_ = json.NewEncoder(zw).Encode(st)
	_ = zw.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func decodeSyncState(s string) (syncState, bool) {
	var st syncState
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return st, false
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return st, false
	}
	b, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil || json.Unmarshal(b, &st) != nil || st.Items == nil {
		return st, false
	}
	return st, true
}

// syncFolderItems reports Create/Update/Delete of singles and series masters since SyncState,
// newest first, at most MaxChangesReturned per call.
func (s *Server) syncFolderItems(rc *reqCtx) string {
	const op = "SyncFolderItems"
	b := rc.body
	max, err := strconv.Atoi(b.child("MaxChangesReturned").text())
	if err != nil || max < 1 || max > MaxSyncChanges {
		return opResponse(op, []respMsg{{code: "ErrorSchemaValidation", message: "The request failed schema validation: MaxChangesReturned must be an integer from 1 to 512."}})
	}
	sh, code := parseShape(b.child("ItemShape"), ctxSync)
	if code != "" {
		return opResponse(op, []respMsg{errMsg(code)})
	}
	folder := b.child("SyncFolderId")
	if folder != nil && len(folder.Nodes) > 0 {
		folder = &folder.Nodes[0]
	}
	mailbox, code := s.access(rc, folder)
	if code != "" {
		if code == "ErrorFolderNotFound" {
			code = "ErrorSyncFolderNotFound"
		}
		return opResponse(op, []respMsg{{code: code, message: messages[code], inner: "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>"}})
	}
	st := syncState{Mailbox: mailbox, Items: map[string]string{}}
	if raw := b.child("SyncState").text(); raw != "" {
		var ok bool
		if st, ok = decodeSyncState(raw); !ok || st.Mailbox != mailbox {
			return opResponse(op, []respMsg{{code: "ErrorInvalidSyncStateData", message: messages["ErrorInvalidSyncStateData"],
				inner: "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>"}})
		}
	}
	items, err := s.gs.StoredItems(mailbox)
	if err != nil {
		return opResponse(op, []respMsg{errMsg("ErrorNonExistentMailbox")})
	}
	type change struct {
		kind string // Create, Update, Delete
		it   graphsim.SharedItem
		at   time.Time
	}
	var changes []change
	seen := map[string]bool{}
	for _, it := range items {
		seen[it.ID] = true
		switch ck, known := st.Items[it.ID]; {
		case !known:
			changes = append(changes, change{"Create", it, it.Modified})
		case ck != it.ChangeKey:
			changes = append(changes, change{"Update", it, it.Modified})
		}
	}
	sort.Slice(changes, func(i, j int) bool {
		if !changes[i].at.Equal(changes[j].at) {
			return changes[i].at.After(changes[j].at) // newest first, as since Exchange 2010 SP2
		}
		return changes[i].it.ID < changes[j].it.ID
	})
	var gone []string
	for id := range st.Items {
		if !seen[id] {
			gone = append(gone, id)
		}
	}
	sort.Strings(gone)
	for _, id := range gone {
		changes = append(changes, change{kind: "Delete", it: graphsim.SharedItem{ID: id, ChangeKey: st.Items[id]}})
	}
	last := len(changes) <= max
	if !last {
		changes = changes[:max]
	}
	var out strings.Builder
	for _, c := range changes {
		switch c.kind {
		case "Delete":
			delete(st.Items, c.it.ID)
			out.WriteString("<t:Delete>" + itemIDXML(mailbox, c.it) + "</t:Delete>")
		default:
			st.Items[c.it.ID] = c.it.ChangeKey
			out.WriteString("<t:" + c.kind + ">" + renderItem(mailbox, c.it, sh) + "</t:" + c.kind + ">")
		}
	}
	inner := "<m:SyncState>" + encodeSyncState(st) + "</m:SyncState><m:IncludesLastItemInRange>" + strconv.FormatBool(last) +
		"</m:IncludesLastItemInRange><m:Changes>" + out.String() + "</m:Changes>"
	return opResponse(op, []respMsg{{inner: inner}})
}

// findItem answers FindItem on a calendar: with CalendarView, singles, occurrences and
// exceptions in the range (masters hidden); without, the stored items (paged by
// IndexedPageItemView).
func (s *Server) findItem(rc *reqCtx) string {
	const op = "FindItem"
	b := rc.body
	sh, code := parseShape(b.child("ItemShape"), ctxFind)
	if code != "" {
		return opResponse(op, []respMsg{errMsg(code)})
	}
	folders := b.child("ParentFolderIds")
	if folders == nil || len(folders.Nodes) == 0 {
		return opResponse(op, []respMsg{errMsg("ErrorFolderNotFound")})
	}
	var msgs []respMsg
	for i := range folders.Nodes {
		msgs = append(msgs, s.findIn(rc, &folders.Nodes[i], sh))
	}
	return opResponse(op, msgs)
}

func (s *Server) findIn(rc *reqCtx, folder *node, sh shape) respMsg {
	b := rc.body
	mailbox, code := s.access(rc, folder)
	if code != "" {
		return errMsg(code)
	}
	var items []graphsim.SharedItem
	total, last := 0, true
	if cv := b.child("CalendarView"); cv != nil {
		start, err1 := time.Parse(time.RFC3339, cv.attr("StartDate"))
		end, err2 := time.Parse(time.RFC3339, cv.attr("EndDate"))
		if err1 != nil || err2 != nil {
			return respMsg{code: "ErrorSchemaValidation", message: "The request failed schema validation: CalendarView needs StartDate and EndDate (xs:dateTime)."}
		}
		switch {
		case end.Before(start):
			return errMsg("ErrorCalendarEndDateIsEarlierThanStartDate")
		case end.Sub(start) > MaxCalendarViewRange:
			return errMsg("ErrorCalendarViewRangeTooBig")
		}
		all, err := s.gs.ViewItems(mailbox, start, end)
		if err != nil {
			return errMsg("ErrorNonExistentMailbox")
		}
		maxEntries, _ := strconv.Atoi(cv.attr("MaxEntriesReturned"))
		if len(all) > s.opts.FindCountLimit && (maxEntries <= 0 || maxEntries > s.opts.FindCountLimit) {
			return respMsg{code: "ErrorExceededFindCountLimit", message: fmt.Sprintf(messages["ErrorExceededFindCountLimit"], len(all))}
		}
		total, items = len(all), all
		if maxEntries > 0 && len(all) > maxEntries {
			items, last = all[:maxEntries], false
		}
	} else {
		all, err := s.gs.StoredItems(mailbox)
		if err != nil {
			return errMsg("ErrorNonExistentMailbox")
		}
		sort.Slice(all, func(i, j int) bool { return all[i].Start.Before(all[j].Start) })
		total = len(all)
		offset, maxEntries := 0, s.opts.FindCountLimit
		if pv := b.child("IndexedPageItemView"); pv != nil {
			offset, _ = strconv.Atoi(pv.attr("Offset"))
			if m, err := strconv.Atoi(pv.attr("MaxEntriesReturned")); err == nil && m > 0 {
				maxEntries = min(m, maxEntries)
			}
		}
		offset = min(max(offset, 0), len(all))
		items = all[offset:min(offset+maxEntries, len(all))]
		last = offset+len(items) >= len(all)
	}
	var out strings.Builder
	for _, it := range items {
		out.WriteString(renderItem(mailbox, it, sh))
	}
	return respMsg{inner: fmt.Sprintf(`<m:RootFolder TotalItemsInView="%d" IncludesLastItemInRange="%t"><t:Items>%s</t:Items></m:RootFolder>`,
		total, last, out.String())}
}

// getItem answers GetItem: one ResponseMessage per id, in order, each with its own error.
func (s *Server) getItem(rc *reqCtx) string {
	const op = "GetItem"
	b := rc.body
	sh, code := parseShape(b.child("ItemShape"), ctxGet)
	if code != "" {
		return opResponse(op, []respMsg{errMsg(code)})
	}
	ids := b.child("ItemIds")
	var msgs []respMsg
	for i := range ids.Nodes {
		msgs = append(msgs, s.getOne(rc, &ids.Nodes[i], sh))
	}
	if len(msgs) == 0 {
		msgs = append(msgs, respMsg{code: "ErrorSchemaValidation", message: "The request failed schema validation: ItemIds is empty."})
	}
	return opResponse(op, msgs)
}

func (s *Server) getOne(rc *reqCtx, idn *node, sh shape) respMsg {
	var mailbox, gid string
	var err error
	switch idn.XMLName.Local {
	case "ItemId":
		mailbox, gid, err = decodeItemID(idn.attr("Id"))
	case "OccurrenceItemId":
		// The n-th occurrence (1-based) of a series, counted from its first one.
		var master string
		mailbox, master, err = decodeItemID(idn.attr("RecurringMasterId"))
		if err == nil {
			gid, err = s.occurrenceByIndex(mailbox, master, idn.attr("InstanceIndex"))
		}
	default:
		return errMsg("ErrorInvalidIdMalformed")
	}
	if err != nil {
		if err == errMalformedID {
			return errMsg("ErrorInvalidIdMalformed")
		}
		return errMsg("ErrorItemNotFound")
	}
	if code := s.itemAccess(rc, mailbox); code != "" {
		return errMsg(code)
	}
	it, err := s.gs.SharedItemByID(mailbox, gid)
	if err != nil {
		return errMsg("ErrorItemNotFound")
	}
	return respMsg{inner: "<m:Items>" + renderItem(mailbox, it, sh) + "</m:Items>"}
}

func (s *Server) occurrenceByIndex(mailbox, master, index string) (string, error) {
	n, err := strconv.Atoi(index)
	if err != nil || n < 1 {
		return "", errMalformedID
	}
	m, err := s.gs.SharedItemByID(mailbox, master)
	if err != nil || m.Kind != graphsim.KindMaster {
		return "", errNotFound
	}
	items, err := s.gs.ViewItems(mailbox, m.Start, m.Start.AddDate(5, 0, 0))
	if err != nil {
		return "", err
	}
	k := 0
	for _, it := range items {
		if it.MasterID == master {
			if k++; k == n {
				return it.ID, nil
			}
		}
	}
	return "", errNotFound
}
