package poly

import (
	"fmt"
	"testing"
	"time"

	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// BenchmarkServePoll measures the server's side of one steady-state poll of a room with 40
// meetings (GetFolder, then FindItem over a 7-day CalendarView; nothing changed, so no GetItem):
// parsing, the cached items, and the response. TLS and HTTP are left out; make bench turns the
// figure into the share of a core that 100 endpoints polling every minute cost.
func BenchmarkServePoll(b *testing.B) {
	f := newFixture(b)
	room := "room-bench@contoso.example"
	ms := make([]calendar.Meeting, 40)
	for i := range ms {
		start := t0.Add(time.Duration(i*4) * time.Hour)
		ms[i] = calendar.Meeting{ID: fmt.Sprintf("bench-%02d", i), Start: start, End: start.Add(30 * time.Minute),
			Subject: fmt.Sprintf("Project review %d", i), Organizer: "Alice Example", OrganizerEmail: "alice@contoso.example",
			Join: true, Number: fmt.Sprintf("8%09d@zoomcrc.com", i), Protocol: calendar.ProtocolSIP, Platform: calendar.PlatformZoom}
	}
	if err := f.st.Write(b.Context(), func(tx *store.Tx) error {
		if err := tx.SyncRooms([]store.RoomRef{{Mailbox: room}}); err != nil {
			return err
		}
		_, err := stored.ReplaceMeetings(tx, room, ms)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	f.opts.Endpoints = append(f.opts.Endpoints, Account{Name: "bench", Room: room, Username: "bench", Password: secret.New("x")})
	svc, err := NewService(f.opts)
	if err != nil {
		b.Fatal(err)
	}
	acc := svc.accts.lookup("bench")
	getFolder := []byte(envelope(`<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>` + room + `</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:FolderIds></m:GetFolder>`))
	findItem := []byte(envelope(`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:CalendarView MaxEntriesReturned="50" StartDate="2025-05-04T08:00:00Z" EndDate="2025-05-12T08:00:00Z"/><m:ParentFolderIds><t:FolderId Id="` + folderID(room) + `"/></m:ParentFolderIds></m:FindItem>`))
	for b.Loop() {
		for _, req := range [][]byte{getFolder, findItem} {
			if _, fault := svc.handleSOAP(b.Context(), acc, req); fault != nil {
				b.Fatal(fault)
			}
		}
	}
}
