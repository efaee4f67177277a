package poly

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goldenCases are the SOAP exchanges whose exact responses are kept in testdata/golden (run
// `go test ./device/poly -run TestGolden -update` to rewrite them after a deliberate change).
// They pin element order, namespaces, attribute values and error shapes.
var goldenCases = []struct {
	name    string
	version string // RequestServerVersion
	path    string // default /EWS/Exchange.asmx
	body    string // the operation element (or the whole document for autodiscover)
}{
	{"getfolder_idonly", "Exchange2010", "", `<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>room-a@contoso.example</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:FolderIds></m:GetFolder>`},
	{"getfolder_default", "Exchange2007_SP1", "", `<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>`},
	{"getfolder_allproperties", "Exchange2013", "", `<m:GetFolder><m:FolderShape><t:BaseShape>AllProperties</t:BaseShape></m:FolderShape><m:FolderIds><t:FolderId Id="FOLDER(room-a@contoso.example)"/></m:FolderIds></m:GetFolder>`},
	{"getfolder_inbox", "Exchange2010", "", `<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>`},
	{"getfolder_other_room", "Exchange2010", "", `<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>room-b@contoso.example</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:FolderIds></m:GetFolder>`},
	{"finditem_calendarview", "Exchange2010", "", `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:CalendarView StartDate="2025-05-04T08:00:00Z" EndDate="2025-05-12T08:00:00Z" MaxEntriesReturned="50"/><m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>room-a@contoso.example</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:ParentFolderIds></m:FindItem>`},
	{"finditem_calendarview_max2", "Exchange2010", "", `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:CalendarView StartDate="2025-05-05T00:00:00+02:00" EndDate="2025-05-06T00:00:00" MaxEntriesReturned="2"/><m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`},
	{"finditem_idonly_additional", "Exchange2007_SP1", "", `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="calendar:Start"/><t:FieldURI FieldURI="calendar:End"/><t:FieldURI FieldURI="calendar:Location"/><t:FieldURI FieldURI="item:NoSuchProperty"/></t:AdditionalProperties></m:ItemShape><m:CalendarView StartDate="2025-05-05T10:30:00Z" EndDate="2025-05-05T23:00:00Z"/><m:ParentFolderIds><t:FolderId Id="FOLDER(room-a@contoso.example)"/></m:ParentFolderIds></m:FindItem>`},
	{"finditem_indexed", "Exchange2010", "", `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="2" Offset="1" BasePoint="Beginning"/><m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`},
	{"finditem_end_before_start", "Exchange2010", "", `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:CalendarView StartDate="2025-05-06T00:00:00Z" EndDate="2025-05-05T00:00:00Z"/><m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`},
	{"getitem_text", "Exchange2010", "", `<m:GetItem><m:ItemShape><t:BaseShape>Default</t:BaseShape><t:BodyType>Text</t:BodyType></m:ItemShape><m:ItemIds><t:ItemId Id="ID(weekly-sync-20250505T0900)"/><t:ItemId Id="ID(budget-20250505T1000)"/><t:ItemId Id="ID(standup-20250505T1100)"/><t:ItemId Id="ID(private-20250505T1300)"/></m:ItemIds></m:GetItem>`},
	{"getitem_html", "Exchange2010", "", `<m:GetItem><m:ItemShape><t:BaseShape>Default</t:BaseShape><t:BodyType>HTML</t:BodyType></m:ItemShape><m:ItemIds><t:ItemId Id="ID(weekly-sync-20250505T0900)"/></m:ItemIds></m:GetItem>`},
	{"getitem_allproperties", "Exchange2010_SP2", "", `<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape><m:ItemIds><t:ItemId Id="ID(weekly-sync-20250505T0900)"/></m:ItemIds></m:GetItem>`},
	{"getitem_errors", "Exchange2010", "", `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ItemIds><t:ItemId Id="AAMkADk|not ours"/><t:ItemId Id="AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"/><t:OccurrenceItemId RecurringMasterId="x" InstanceIndex="1"/></m:ItemIds></m:GetItem>`},
	{"resolvenames", "Exchange2010", "", `<m:ResolveNames ReturnFullContactData="true"><m:UnresolvedEntry>SMTP:Room-A@contoso.example</m:UnresolvedEntry></m:ResolveNames>`},
	{"resolvenames_none", "Exchange2010", "", `<m:ResolveNames ReturnFullContactData="true"><m:UnresolvedEntry>someone.else</m:UnresolvedEntry></m:ResolveNames>`},
	{"fault_unsupported", "Exchange2010", "", `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="calendar"/></m:SyncFolderId><m:MaxChangesReturned>100</m:MaxChangesReturned></m:SyncFolderItems>`},
	{"fault_bad_dates", "Exchange2010", "", `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:CalendarView StartDate="today" EndDate="tomorrow"/><m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`},
	{"autodiscover", "", "/Autodiscover/Autodiscover.xml", `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>room-a@contoso.example</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`},
}

// expandIDs replaces ID(meeting) and FOLDER(room) with the service's ids.
func expandIDs(s string) string {
	for {
		i := strings.Index(s, "ID(")
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], ')')
		s = s[:i] + itemID(roomA, s[i+3:i+j]) + s[i+j+1:]
	}
	for {
		i := strings.Index(s, "FOLDER(")
		if i < 0 {
			return s
		}
		j := strings.IndexByte(s[i:], ')')
		s = s[:i] + folderID(s[i+7:i+j]) + s[i+j+1:]
	}
}

func TestGolden(t *testing.T) {
	f := newFixture(t)
	svc := f.start()
	c := f.client("")
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			path, body := tc.path, tc.body
			if path == "" {
				path = "/EWS/Exchange.asmx"
				body = strings.Replace(envelope(expandIDs(body)), "Exchange2010_SP2", tc.version, 1)
			}
			status, resp := post(t, c, svc, path, userA, passA, body)
			got := "HTTP " + itoa(status) + "\n" + indentXML(t, strings.ReplaceAll(resp, svc.Addr(), "HOST:PORT"))
			file := filepath.Join("testdata", "golden", tc.name+".xml")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
				require.NoError(t, os.WriteFile(file, []byte(got), 0o644))
			}
			want, err := os.ReadFile(file)
			require.NoError(t, err, "run with -update to create the golden file")
			assert.Equal(t, string(want), got)
		})
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// indentXML re-indents a compact XML document for the golden files, keeping prefixes,
// attributes (in order) and text exactly; it fails on anything not well-formed.
func indentXML(t *testing.T, s string) string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	var b bytes.Buffer
	depth := 0
	open := false // a start tag is written without its '>'
	inText := false
	name := func(n xml.Name) string {
		if n.Space != "" {
			return n.Space + ":" + n.Local
		}
		return n.Local
	}
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, s)
		switch x := tok.(type) {
		case xml.ProcInst:
			b.WriteString("<?" + x.Target + " " + string(x.Inst) + "?>")
		case xml.StartElement:
			if open {
				b.WriteString(">")
			}
			b.WriteString("\n" + strings.Repeat("  ", depth) + "<" + name(x.Name))
			for _, a := range x.Attr {
				b.WriteString(" " + name(a.Name) + `="`)
				_ = xml.EscapeText(&b, []byte(a.Value))
				b.WriteString(`"`)
			}
			open, inText = true, false
			depth++
		case xml.EndElement:
			depth--
			switch {
			case open:
				b.WriteString("/>")
			case inText:
				b.WriteString("</" + name(x.Name) + ">")
			default:
				b.WriteString("\n" + strings.Repeat("  ", depth) + "</" + name(x.Name) + ">")
			}
			open, inText = false, false
		case xml.CharData:
			if len(bytes.TrimSpace(x)) == 0 {
				continue
			}
			if open {
				b.WriteString(">")
				open = false
			}
			_ = xml.EscapeText(&b, x)
			inText = true
		}
	}
	return strings.TrimLeft(b.String(), "\n") + "\n"
}
