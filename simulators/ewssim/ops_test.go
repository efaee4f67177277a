package ewssim

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// syncAll runs SyncFolderItems until IncludesLastItemInRange, returning the changes by kind.
func syncAll(t *testing.T, c *client, mailbox, state string, max int) (string, map[string][]string) {
	t.Helper()
	got := map[string][]string{}
	for range 100 {
		_, n := c.call(impersonate(mailbox), syncOp(state, max))
		m := msgs(n)[0]
		if code(m) != "NoError" {
			t.Fatalf("SyncFolderItems: %s %s", code(m), m.child("MessageText").text())
		}
		changes := m.child("Changes")
		if len(changes.Nodes) > max {
			t.Fatalf("%d changes for MaxChangesReturned %d", len(changes.Nodes), max)
		}
		for _, ch := range changes.Nodes {
			id := ch.find("ItemId")
			_, gid, err := decodeItemID(id.attr("Id"))
			if err != nil || id.attr("ChangeKey") == "" {
				t.Fatalf("change %s: id %q changeKey %q", ch.XMLName.Local, id.attr("Id"), id.attr("ChangeKey"))
			}
			got[ch.XMLName.Local] = append(got[ch.XMLName.Local], gid)
		}
		state = m.child("SyncState").text()
		if m.child("IncludesLastItemInRange").text() == "true" {
			return state, got
		}
	}
	t.Fatal("SyncFolderItems never reached the last item")
	return "", nil
}

func TestSyncFolderItemsReportsCreatesUpdatesDeletes(t *testing.T) {
	gs, s := start(t, Options{})
	c := defaultClient(t, s)
	stored, _ := gs.StoredItems(room1)
	state, got := syncAll(t, c, room1, "", 3)
	if len(got["Create"]) != len(stored) || len(got["Update"])+len(got["Delete"]) != 0 {
		t.Fatalf("first sync: %d creates (want %d), %d updates, %d deletes", len(got["Create"]), len(stored), len(got["Update"]), len(got["Delete"]))
	}
	if !strings.HasPrefix(state, "H4sI") {
		t.Fatalf("SyncState %q does not look like Exchange's (gzip, base64)", state[:10])
	}
	if _, again := syncAll(t, c, room1, state, 10); len(again) != 0 {
		t.Fatalf("nothing changed, yet %v", again)
	}

	// An edit of a single, a modified occurrence (updates its master), a deletion and a new one.
	var single, master graphsim.SharedItem
	for _, it := range stored {
		if it.Kind == graphsim.KindSingle && single.ID == "" {
			single = it
		}
		if it.Kind == graphsim.KindMaster && master.ID == "" {
			master = it
		}
	}
	if single.ID == "" || master.ID == "" {
		t.Fatal("the scenario has no single or no series in room 1")
	}
	if _, err := gs.PatchEvent(room1, single.ID, map[string]any{"subject": "Moved"}); err != nil {
		t.Fatal(err)
	}
	occ, _ := gs.ViewItems(room1, master.Start, master.Start.Add(30*24*time.Hour))
	var occID string
	for _, it := range occ {
		if it.MasterID == master.ID && it.Kind == graphsim.KindOccurrence {
			occID = it.ID
			break
		}
	}
	if _, err := gs.PatchEvent(room1, occID, map[string]any{"subject": "Just this once"}); err != nil {
		t.Fatal(err)
	}
	var gone string
	for _, it := range stored {
		if it.ID != single.ID && it.ID != master.ID {
			gone = it.ID
			break
		}
	}
	if err := gs.DeleteEvent(room1, gone); err != nil {
		t.Fatal(err)
	}
	added, err := gs.PostEvent(room1, map[string]any{"subject": "New", "start": map[string]any{"dateTime": "2026-03-03T10:00:00", "timeZone": "UTC"},
		"end": map[string]any{"dateTime": "2026-03-03T10:30:00", "timeZone": "UTC"}, "organizer": map[string]any{"emailAddress": map[string]any{"name": "Ann", "address": "ann@contoso.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, got = syncAll(t, c, room1, state, 512)
	if strings.Join(got["Create"], ",") != added || strings.Join(got["Delete"], ",") != gone || len(got["Update"]) != 2 ||
		!contains(got["Update"], single.ID) || !contains(got["Update"], master.ID) {
		t.Fatalf("changes %v; want create %s, delete %s, updates of %s and the master %s", got, added, gone, single.ID, master.ID)
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func TestSyncFolderItemsErrors(t *testing.T) {
	_, s := start(t, Options{})
	c := defaultClient(t, s)
	_, n := c.call(impersonate(room1), syncOp("bm90IGEgc3luYyBzdGF0ZQ==", 10))
	if m := msgs(n)[0]; code(m) != "ErrorInvalidSyncStateData" || m.attr("ResponseClass") != "Error" {
		t.Fatalf("corrupt SyncState: %s", code(m))
	}
	state, _ := syncAll(t, c, room1, "", 512)
	_, n = c.call(impersonate(room2), syncOp(state, 10))
	if code(msgs(n)[0]) != "ErrorInvalidSyncStateData" {
		t.Fatalf("another room's SyncState: %s", code(msgs(n)[0]))
	}
	_, n = c.call(impersonate(room1), syncOp("", 513))
	if code(msgs(n)[0]) != "ErrorSchemaValidation" {
		t.Fatalf("MaxChangesReturned 513: %s", code(msgs(n)[0]))
	}
}

func TestFindItemCalendarViewExpandsLikeGraph(t *testing.T) {
	gs, s := start(t, Options{})
	c := defaultClient(t, s)
	from, to := t0.Add(-24*time.Hour), t0.Add(8*24*time.Hour)
	want, _ := gs.CalendarView(room1, from, to)
	_, n := c.call(impersonate(room1), calendarViewOp(calendarFolder(""), from, to, 0, "item:Subject", "calendar:Start", "calendar:End", "calendar:CalendarItemType", "calendar:Organizer"))
	m := msgs(n)[0]
	root := m.child("RootFolder")
	items := root.child("Items").all("CalendarItem")
	if code(m) != "NoError" || len(items) != len(want) || root.attr("IncludesLastItemInRange") != "true" {
		t.Fatalf("CalendarView: %s, %d items (Graph's calendarView has %d)", code(m), len(items), len(want))
	}
	kinds := map[string]int{}
	for i, it := range items {
		_, gid, _ := decodeItemID(it.child("ItemId").attr("Id"))
		if gid != want[i]["id"] {
			t.Fatalf("item %d is %s, Graph has %s", i, gid, want[i]["id"])
		}
		if it.child("Subject").text() != want[i]["subject"] || it.child("Body") != nil {
			t.Fatalf("item %d: subject %q (want %q), body present %v", i, it.child("Subject").text(), want[i]["subject"], it.child("Body") != nil)
		}
		if it.path("Organizer", "Mailbox", "EmailAddress") != nil {
			t.Fatal("FindItem gave the organizer's address; Exchange gives only the name")
		}
		kinds[it.child("CalendarItemType").text()]++
	}
	if kinds["Occurrence"] == 0 || kinds["RecurringMaster"] != 0 {
		t.Fatalf("item types %v: want occurrences and no masters", kinds)
	}

	_, n = c.call(impersonate(room1), calendarViewOp(calendarFolder(""), from, to, 2))
	root = msgs(n)[0].child("RootFolder")
	if len(root.child("Items").Nodes) != 2 || root.attr("IncludesLastItemInRange") != "false" || root.attr("TotalItemsInView") != itoa(len(want)) {
		t.Fatalf("MaxEntriesReturned 2: %d items, IncludesLastItemInRange %s, TotalItemsInView %s", len(root.child("Items").Nodes),
			root.attr("IncludesLastItemInRange"), root.attr("TotalItemsInView"))
	}
	for _, tc := range []struct {
		op, want string
	}{
		{calendarViewOp(calendarFolder(""), from, from.AddDate(2, 1, 0), 0), "ErrorCalendarViewRangeTooBig"},
		{calendarViewOp(calendarFolder(""), to, from, 0), "ErrorCalendarEndDateIsEarlierThanStartDate"},
		{calendarViewOp(calendarFolder(""), from, to, 0, "item:Body"), "ErrorInvalidPropertyRequest"},
	} {
		if _, n := c.call(impersonate(room1), tc.op); code(msgs(n)[0]) != tc.want {
			t.Fatalf("got %s, want %s", code(msgs(n)[0]), tc.want)
		}
	}
}

func TestFindItemCountLimit(t *testing.T) {
	_, s := start(t, Options{FindCountLimit: 3})
	c := defaultClient(t, s)
	from, to := t0.Add(-24*time.Hour), t0.Add(8*24*time.Hour)
	if _, n := c.call(impersonate(room1), calendarViewOp(calendarFolder(""), from, to, 0)); code(msgs(n)[0]) != "ErrorExceededFindCountLimit" {
		t.Fatalf("more items than EWSFindCountLimit: %s", code(msgs(n)[0]))
	}
	if _, n := c.call(impersonate(room1), calendarViewOp(calendarFolder(""), from, to, 3)); code(msgs(n)[0]) != "NoError" {
		t.Fatalf("MaxEntriesReturned within the limit: %s", code(msgs(n)[0]))
	}
}

func TestGetItemBatchWithOccurrencesAndErrors(t *testing.T) {
	gs, s := start(t, Options{})
	c := defaultClient(t, s)
	view, _ := gs.ViewItems(room1, t0.Add(-24*time.Hour), t0.Add(8*24*time.Hour))
	var occ, single graphsim.SharedItem
	for _, it := range view {
		if it.Kind == graphsim.KindOccurrence && occ.ID == "" {
			occ = it
		}
		if it.Kind == graphsim.KindSingle && single.ID == "" {
			single = it
		}
	}
	ids := `<t:ItemId Id="` + encodeItemID(room1, single.ID) + `"/><t:ItemId Id="` + encodeItemID(room1, occ.ID) + `"/>` +
		`<t:ItemId Id="not base64!"/><t:ItemId Id="` + encodeItemID(room1, "AAMkAGgone") + `"/><t:ItemId Id="` + encodeItemID(room2, single.ID) + `"/>`
	op := `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:BodyType>HTML</t:BodyType><t:AdditionalProperties>` +
		`<t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="item:Body"/><t:FieldURI FieldURI="calendar:Organizer"/>` +
		`<t:FieldURI FieldURI="calendar:UID"/><t:FieldURI FieldURI="calendar:RecurrenceId"/><t:FieldURI FieldURI="calendar:CalendarItemType"/>` +
		`<t:FieldURI FieldURI="calendar:Resources"/><t:FieldURI FieldURI="calendar:IsCancelled"/><t:FieldURI FieldURI="item:LastModifiedTime"/>` +
		`</t:AdditionalProperties></m:ItemShape><m:ItemIds>` + ids + `</m:ItemIds></m:GetItem>`
	status, n := c.call(impersonate(room1), op)
	ms := msgs(n)
	if status != http.StatusOK || len(ms) != 5 {
		t.Fatalf("status %d, %d messages", status, len(ms))
	}
	want := []string{"NoError", "NoError", "ErrorInvalidIdMalformed", "ErrorItemNotFound", "ErrorAccessDenied"}
	for i, w := range want {
		if code(ms[i]) != w {
			t.Fatalf("message %d: %s, want %s", i, code(ms[i]), w)
		}
	}
	it := ms[0].path("Items", "CalendarItem")
	if it.child("Body").attr("BodyType") != "HTML" || it.child("Subject").text() != single.Doc["subject"] ||
		it.path("Organizer", "Mailbox", "EmailAddress").text() == "" || it.child("UID").text() != single.ICalUID ||
		it.path("Resources", "Attendee", "Mailbox", "EmailAddress").text() != room1 || it.child("IsCancelled").text() != "false" {
		t.Fatalf("single: %+v", it)
	}
	o := ms[1].path("Items", "CalendarItem")
	if o.child("CalendarItemType").text() != "Occurrence" || o.child("RecurrenceId").text() != ewsTime(occ.OriginalStart) {
		t.Fatalf("occurrence: type %s, RecurrenceId %s", o.child("CalendarItemType").text(), o.child("RecurrenceId").text())
	}
}
