package ewssim

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

var (
	room1 = "room-01@contoso.example"
	room2 = "room-02@contoso.example"
	room3 = "room-03@contoso.example"
	t0    = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC) // a Monday
)

// start runs a graphsim with a three-room scenario and an ewssim in front of it.
func start(t *testing.T, opts Options) (*graphsim.Server, *Server) {
	t.Helper()
	gs, err := graphsim.New(graphsim.Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	if err := gs.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gs.Close)
	if _, err := gs.Load(graphsim.Scenario{Rooms: []string{room1, room2, room3}, Meetings: 12, Days: 7, Seed: 7, Now: t0}); err != nil {
		t.Fatal(err)
	}
	// A daily stand-up in room 1, so every test has a series with occurrences.
	if _, err := gs.PostEvent(room1, map[string]any{"subject": "Stand-up",
		"start":     map[string]any{"dateTime": "2026-03-02T09:00:00", "timeZone": "UTC"},
		"end":       map[string]any{"dateTime": "2026-03-02T09:15:00", "timeZone": "UTC"},
		"organizer": map[string]any{"emailAddress": map[string]any{"name": "Bo", "address": "bo@contoso.example"}},
		"recurrence": map[string]any{"pattern": map[string]any{"type": "daily", "interval": 1},
			"range": map[string]any{"type": "numbered", "startDate": "2026-03-02", "numberOfOccurrences": 10}}}); err != nil {
		t.Fatal(err)
	}
	opts.Calendar = gs
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return gs, s
}

// client is an EWS client as the agent builds one: go-ntlmssp's Negotiator over HTTP/1.1.
type client struct {
	t          *testing.T
	s          *Server
	http       *http.Client
	user, pass string
	headers    http.Header
}

func ntlmClient(t *testing.T, s *Server, user, pass string) *client {
	return &client{t: t, s: s, user: user, pass: pass, headers: http.Header{},
		http: &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: s.Transport()}, Timeout: 30 * time.Second}}
}

func defaultClient(t *testing.T, s *Server) *client {
	return ntlmClient(t, s, DefaultDomain+`\`+DefaultUser, DefaultPassword)
}

// post sends a body to a URL with the client's auth and returns the status and body.
func (c *client) post(url, body string) (int, http.Header, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	for k, v := range c.headers {
		req.Header[k] = v
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// call sends one EWS operation (header: extra SOAP header elements) and parses the answer.
func (c *client) call(header, op string) (int, *node) {
	c.t.Helper()
	env := `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" ` +
		`xmlns:t="` + nsTypes + `" xmlns:m="` + nsMessages + `"><soap:Header><t:RequestServerVersion Version="Exchange2013_SP1"/>` +
		header + `</soap:Header><soap:Body>` + op + `</soap:Body></soap:Envelope>`
	status, _, b := c.post(c.s.EWSURL(), env)
	var n node
	if err := xml.NewDecoder(bytes.NewReader(b)).Decode(&n); err != nil {
		c.t.Fatalf("status %d, body not XML: %v\n%s", status, err, b)
	}
	return status, &n
}

func impersonate(addr string) string {
	return `<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>` + addr + `</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>`
}

// msgs are the ResponseMessages of an answer.
func msgs(n *node) []*node {
	rm := n.find("ResponseMessages")
	if rm == nil {
		return nil
	}
	out := []*node{}
	for i := range rm.Nodes {
		out = append(out, &rm.Nodes[i])
	}
	return out
}

func code(m *node) string { return m.child("ResponseCode").text() }

func faultCode(n *node) string { return n.path("Body", "Fault", "detail", "ResponseCode").text() }

func calendarFolder(mailbox string) string {
	if mailbox == "" {
		return `<t:DistinguishedFolderId Id="calendar"/>`
	}
	return `<t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>` + mailbox + `</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>`
}

func syncOp(state string, max int) string {
	st := ""
	if state != "" {
		st = "<m:SyncState>" + state + "</m:SyncState>"
	}
	return `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId>` + calendarFolder("") +
		`</m:SyncFolderId>` + st + `<m:MaxChangesReturned>` + itoa(max) + `</m:MaxChangesReturned></m:SyncFolderItems>`
}

func calendarViewOp(folder string, from, to time.Time, max int, props ...string) string {
	mx := ""
	if max > 0 {
		mx = ` MaxEntriesReturned="` + itoa(max) + `"`
	}
	add := ""
	for _, p := range props {
		add += `<t:FieldURI FieldURI="` + p + `"/>`
	}
	if add != "" {
		add = "<t:AdditionalProperties>" + add + "</t:AdditionalProperties>"
	}
	return `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>` + add + `</m:ItemShape>` +
		`<m:CalendarView` + mx + ` StartDate="` + from.Format(time.RFC3339) + `" EndDate="` + to.Format(time.RFC3339) + `"/>` +
		`<m:ParentFolderIds>` + folder + `</m:ParentFolderIds></m:FindItem>`
}

func itoa(n int) string { return strconv.Itoa(n) }

func containsStr(s, sub string) bool { return strings.Contains(s, sub) }

func xmlUnmarshal(b []byte, n *node) error { return xml.NewDecoder(bytes.NewReader(b)).Decode(n) }
