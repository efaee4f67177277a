package graphsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeNow is a settable clock for the simulator.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) Add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC) // a Monday

func start(t *testing.T, opts Options) (*Server, *fakeNow) {
	t.Helper()
	clk := &fakeNow{t: t0}
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	s, err := New(opts)
	require.NoError(t, err)
	require.NoError(t, s.Start())
	t.Cleanup(s.Close)
	return s, clk
}

func token(t *testing.T, s *Server) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {s.ClientID()}, "client_secret": {s.ClientSecret()},
		"scope": {"https://graph.microsoft.com/.default openid offline_access profile"}}
	resp, err := s.HTTPClient().PostForm(s.TokenURL(), form)
	require.NoError(t, err)
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	require.NotEmpty(t, tok.AccessToken)
	return tok.AccessToken
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func get(t *testing.T, s *Server, tok, u string, prefer ...string) answer {
	t.Helper()
	if !strings.HasPrefix(u, "https://") {
		u = s.GraphURL() + u
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	for _, p := range prefer {
		req.Header.Add("Prefer", p)
	}
	resp, err := s.HTTPClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	_ = json.Unmarshal(b, &a.body)
	return a
}

func errCode(a answer) string {
	e, _ := a.body["error"].(map[string]any)
	return fmt.Sprint(e["code"])
}

func newInvite(subject string, start time.Time, d time.Duration) map[string]any {
	return map[string]any{
		"subject":   subject,
		"body":      map[string]any{"contentType": "html", "content": "<p>Join: sip:vmr@vc.contoso.example</p>"},
		"start":     map[string]any{"dateTime": start.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end":       map[string]any{"dateTime": start.Add(d).Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"organizer": map[string]any{"emailAddress": map[string]any{"name": "Alice Berg", "address": "alice.berg@contoso.example"}},
	}
}

func values(a answer) []map[string]any {
	var out []map[string]any
	for _, v := range a.body["value"].([]any) {
		out = append(out, v.(map[string]any))
	}
	return out
}

func TestTokenEndpointErrorsAreEntraShaped(t *testing.T) {
	s, _ := start(t, Options{})
	disc := get(t, s, "", s.AuthorityHost()+s.Tenant()+"/v2.0/.well-known/openid-configuration")
	require.Equal(t, http.StatusOK, disc.status)
	assert.Equal(t, s.TokenURL(), disc.body["token_endpoint"])
	byDomain := get(t, s, "", s.AuthorityHost()+s.TenantDomain()+"/v2.0/.well-known/openid-configuration")
	assert.Equal(t, http.StatusOK, byDomain.status, "a tenant may be named by its domain")

	cases := []struct {
		name, tokenURL, clientID, secret, scope string
		status                                  int
		errorName                               string
		code                                    int
	}{
		{"wrong secret", s.TokenURL(), s.ClientID(), DefaultSecretID, "https://graph.microsoft.com/.default", 401, "invalid_client", 7000215},
		{"unknown app", s.TokenURL(), "00000000-1111-2222-3333-444444444444", s.ClientSecret(), "https://graph.microsoft.com/.default", 400, "unauthorized_client", 700016},
		{"unknown tenant", strings.Replace(s.TokenURL(), s.Tenant(), "nowhere.example", 1), s.ClientID(), s.ClientSecret(), "https://graph.microsoft.com/.default", 400, "invalid_request", 90002},
		{"scope without .default", s.TokenURL(), s.ClientID(), s.ClientSecret(), "https://graph.microsoft.com/Calendars.Read", 400, "invalid_scope", 1002012},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := s.HTTPClient().PostForm(tc.tokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {tc.clientID},
				"client_secret": {tc.secret}, "scope": {tc.scope}})
			require.NoError(t, err)
			defer resp.Body.Close()
			var body struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
				Codes       []int  `json:"error_codes"`
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, tc.errorName, body.Error)
			assert.Equal(t, []int{tc.code}, body.Codes)
			assert.True(t, strings.HasPrefix(body.Description, fmt.Sprintf("AADSTS%d: ", tc.code)), body.Description)
			assert.Contains(t, body.Description, "Trace ID:")
		})
	}

	t.Run("expired secret", func(t *testing.T) {
		expired := true
		s.SetApp(AppSettings{SecretExpired: &expired})
		defer func() { expired = false; s.SetApp(AppSettings{SecretExpired: &expired}) }()
		resp, err := s.HTTPClient().PostForm(s.TokenURL(), url.Values{"grant_type": {"client_credentials"}, "client_id": {s.ClientID()},
			"client_secret": {s.ClientSecret()}, "scope": {"https://graph.microsoft.com/.default"}})
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Contains(t, string(b), "AADSTS7000222")
	})
}

func TestGraphChecksTokensAndTheirExpiry(t *testing.T) {
	s, clk := start(t, Options{TokenTTL: time.Hour})
	require.NoError(t, s.AddRoom(Room{Mailbox: "room-01@contoso.example"}))
	path := "/users/room-01@contoso.example/calendarView?startDateTime=2026-11-23T00:00:00Z&endDateTime=2026-11-24T00:00:00Z"

	a := get(t, s, "", path)
	assert.Equal(t, http.StatusUnauthorized, a.status)
	assert.Equal(t, "InvalidAuthenticationToken", errCode(a))

	tok := token(t, s)
	assert.Equal(t, http.StatusOK, get(t, s, tok, path).status)
	clk.Add(time.Hour)
	a = get(t, s, tok, path)
	assert.Equal(t, http.StatusUnauthorized, a.status, "the token expired")
	assert.Contains(t, a.raw, "expired")

	// A refused batch counts as its parts, as the client counts them against its budget.
	before := s.Stats().Requests
	b, _ := json.Marshal(map[string]any{"requests": []map[string]any{
		{"id": "1", "method": "GET", "url": path}, {"id": "2", "method": "GET", "url": path}, {"id": "3", "method": "GET", "url": path}}})
	req, _ := http.NewRequest(http.MethodPost, s.GraphURL()+"/$batch", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.HTTPClient().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, before+3, s.Stats().Requests)
}

func TestMailboxErrors(t *testing.T) {
	s, _ := start(t, Options{})
	no := false
	require.NoError(t, s.AddRoom(Room{Mailbox: "denied@contoso.example", InPolicy: &no}))
	require.NoError(t, s.AddRoom(Room{Mailbox: "onprem@contoso.example", RESTEnabled: &no}))
	tok := token(t, s)
	q := "/calendarView/delta?startDateTime=2026-11-23T00:00:00Z&endDateTime=2026-11-24T00:00:00Z"
	for _, tc := range []struct {
		mailbox, code, message string
		status                 int
	}{
		{"denied@contoso.example", "ErrorAccessDenied", "Access to OData is disabled.", 403},
		{"onprem@contoso.example", "MailboxNotEnabledForRESTAPI", "REST API is not yet supported for this mailbox.", 404},
		{"typo@contoso.example", "ErrorInvalidUser", "The requested user 'typo@contoso.example' is invalid.", 404},
	} {
		a := get(t, s, tok, "/users/"+tc.mailbox+q)
		assert.Equal(t, tc.status, a.status, tc.mailbox)
		assert.Equal(t, tc.code, errCode(a), tc.mailbox)
		assert.Equal(t, tc.message, a.body["error"].(map[string]any)["message"], tc.mailbox)
	}
}

// TestDeltaRounds follows a room through an initial round (paged, with occurrence stubs), an
// incremental round with adds, edits, deletes and @removed, and an expired token.
func TestDeltaRounds(t *testing.T) {
	s, _ := start(t, Options{})
	room := "room-01@contoso.example"
	yes := true
	require.NoError(t, s.AddRoom(Room{Mailbox: room, Processing: ptr(Recommended()), InPolicy: &yes}))
	keep, err := s.PostEvent(room, newInvite("Keep", t0.Add(time.Hour), 30*time.Minute))
	require.NoError(t, err)
	gone, err := s.PostEvent(room, newInvite("Gone", t0.Add(2*time.Hour), 30*time.Minute))
	require.NoError(t, err)
	series := newInvite("Stand-up", t0, 15*time.Minute)
	series["recurrence"] = map[string]any{"pattern": map[string]any{"type": "daily", "interval": 1},
		"range": map[string]any{"type": "numbered", "startDate": "2026-11-23", "numberOfOccurrences": 5}}
	master, err := s.PostEvent(room, series)
	require.NoError(t, err)

	tok := token(t, s)
	// The SDK's form: delta() and an escaped @.
	first := get(t, s, tok, "/users/room-01%40contoso.example/calendarView/delta()?startDateTime=2026-11-23T00:00:00Z&endDateTime=2026-11-26T00:00:00Z",
		"odata.maxpagesize=3", `outlook.timezone="UTC"`)
	require.Equal(t, http.StatusOK, first.status, first.raw)
	next, _ := first.body["@odata.nextLink"].(string)
	require.True(t, strings.HasPrefix(next, s.GraphURL()+"/users/"), "links carry the simulator's own host: %s", next)
	items := values(first)
	assert.Len(t, items, 3)
	var all []map[string]any
	all = append(all, items...)
	for next != "" {
		page := get(t, s, tok, next, "odata.maxpagesize=3")
		require.Equal(t, http.StatusOK, page.status)
		all = append(all, values(page)...)
		next, _ = page.body["@odata.nextLink"].(string)
		if dl, ok := page.body["@odata.deltaLink"].(string); ok {
			first.body["@odata.deltaLink"] = dl
		}
	}
	deltaLink := first.body["@odata.deltaLink"].(string)
	require.Contains(t, deltaLink, "$deltatoken=")
	// 2 singles + 3 occurrences of the series in the window (23rd, 24th, 25th).
	require.Len(t, all, 5)
	stubs := 0
	for _, it := range all {
		if it["type"] == "occurrence" {
			stubs++
			assert.Equal(t, master, it["seriesMasterId"])
			assert.NotContains(t, it, "subject", "occurrences are stubs in delta")
			assert.ElementsMatch(t, []string{"@odata.type", "@odata.etag", "id", "seriesMasterId", "type", "start", "end"}, keys(it))
		} else {
			assert.Contains(t, it, "subject")
			assert.Contains(t, it, "body")
		}
	}
	assert.Equal(t, 3, stubs)

	// Nothing changed: an empty incremental round.
	quiet := get(t, s, tok, deltaLink)
	require.Equal(t, http.StatusOK, quiet.status)
	assert.Empty(t, values(quiet))
	deltaLink = quiet.body["@odata.deltaLink"].(string)

	// An edit, an add, a delete, an exception and a deleted occurrence.
	_, err = s.PatchEvent(room, keep, map[string]any{"subject": "Keep (edited)"})
	require.NoError(t, err)
	added, err := s.PostEvent(room, newInvite("Added", t0.Add(26*time.Hour), time.Hour))
	require.NoError(t, err)
	require.NoError(t, s.DeleteEvent(room, gone))
	occ2 := occurrenceID(master, t0.Add(24*time.Hour))
	_, err = s.PatchEvent(room, occ2, map[string]any{"subject": "Stand-up (moved)",
		"start": map[string]any{"dateTime": "2026-11-24T10:00:00", "timeZone": "UTC"}, "end": map[string]any{"dateTime": "2026-11-24T10:15:00", "timeZone": "UTC"}})
	require.NoError(t, err)
	occ3 := occurrenceID(master, t0.Add(48*time.Hour))
	require.NoError(t, s.DeleteEvent(room, occ3))

	inc := get(t, s, tok, deltaLink)
	require.Equal(t, http.StatusOK, inc.status)
	got := map[string]map[string]any{}
	for _, it := range values(inc) {
		got[it["id"].(string)] = it
	}
	assert.Equal(t, "Keep (edited)", got[keep]["subject"])
	assert.Equal(t, "Added", got[added]["subject"])
	assert.Equal(t, map[string]any{"reason": "deleted"}, got[gone]["@removed"])
	assert.Equal(t, map[string]any{"reason": "deleted"}, got[occ3]["@removed"])
	assert.Equal(t, "exception", got[occ2]["type"])
	assert.Equal(t, "Stand-up (moved)", got[occ2]["subject"])
	assert.Len(t, got, 5)

	// A series edit changes every occurrence: they come back as stubs.
	_, err = s.PatchEvent(room, master, map[string]any{"subject": "Daily stand-up"})
	require.NoError(t, err)
	after := get(t, s, tok, inc.body["@odata.deltaLink"].(string))
	stubs = 0
	for _, it := range values(after) {
		if it["type"] == "occurrence" {
			stubs++
		}
	}
	assert.Equal(t, 1, stubs, "the one remaining plain occurrence (the others are an exception and a deleted one)")

	// The master, with $select.
	m := get(t, s, tok, "/users/"+room+"/events/"+master+"?$select=subject,recurrence,changeKey")
	require.Equal(t, http.StatusOK, m.status)
	assert.Equal(t, "Daily stand-up", m.body["subject"])
	assert.NotNil(t, m.body["recurrence"])
	assert.NotContains(t, m.body, "body")

	// An expired state answers 410 SyncStateNotFound.
	s.ExpireDeltaTokens(room)
	exp := get(t, s, tok, after.body["@odata.deltaLink"].(string))
	assert.Equal(t, http.StatusGone, exp.status)
	assert.Equal(t, "SyncStateNotFound", errCode(exp))
	assert.Equal(t, 1, s.MailboxStats(room).FullSyncs)
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestPartialUpdatesSendOnlyChangedProperties(t *testing.T) {
	s, _ := start(t, Options{PartialUpdates: true})
	room := "room-01@contoso.example"
	require.NoError(t, s.AddRoom(Room{Mailbox: room, Processing: ptr(Recommended())}))
	id, err := s.PostEvent(room, newInvite("Before", t0.Add(time.Hour), time.Hour))
	require.NoError(t, err)
	tok := token(t, s)
	first := get(t, s, tok, "/users/"+room+"/calendarView/delta?startDateTime=2026-11-23T00:00:00Z&endDateTime=2026-11-24T00:00:00Z")
	_, err = s.PatchEvent(room, id, map[string]any{"subject": "After"})
	require.NoError(t, err)
	inc := get(t, s, tok, first.body["@odata.deltaLink"].(string))
	it := values(inc)[0]
	assert.Equal(t, "After", it["subject"])
	assert.NotContains(t, it, "body", "unchanged properties are left out")
	assert.NotContains(t, it, "organizer")
}

func TestProcessingIsAppliedToInvites(t *testing.T) {
	s, _ := start(t, Options{})
	private := newInvite("Secret project", t0.Add(time.Hour), time.Hour)
	private["sensitivity"] = "private"
	external := newInvite("Partner call", t0.Add(3*time.Hour), time.Hour)
	external["organizer"] = map[string]any{"emailAddress": map[string]any{"name": "Eve Partner", "address": "eve@fabrikam.example"}}

	tests := []struct {
		name        string
		proc        Processing
		subject     string
		emptyBody   bool
		sensitivity string
		showAs      string
		externalOK  bool
	}{
		{"exchange defaults", ExchangeDefaults(), "Alice Berg", true, "normal", "busy", false},
		{"recommended", Recommended(), "Secret project", false, "private", "busy", true},
		{"delete subject only", Processing{AutomateProcessing: AutoAccept, DeleteSubject: true}, "", false, "private", "busy", false},
		{"auto update", Processing{AutomateProcessing: AutoUpdate, AddOrganizerToSubject: true, DeleteComments: true}, "Secret project", false, "private", "tentative", true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			room := fmt.Sprintf("room-%02d@contoso.example", i+1)
			require.NoError(t, s.AddRoom(Room{Mailbox: room, Processing: &tc.proc}))
			id, err := s.PostEvent(room, private)
			require.NoError(t, err)
			ev, err := s.Event(room, id)
			require.NoError(t, err)
			assert.Equal(t, tc.subject, ev["subject"])
			assert.Equal(t, tc.emptyBody, ev["body"].(map[string]any)["content"] == "")
			assert.Equal(t, tc.sensitivity, ev["sensitivity"])
			assert.Equal(t, tc.showAs, ev["showAs"])
			found := false
			for _, a := range ev["attendees"].([]any) {
				am := a.(map[string]any)
				if nestedString(am, "emailAddress", "address") == room {
					found = am["type"] == "resource"
				}
			}
			assert.True(t, found, "the room is a resource attendee of its copy")
			_, err = s.PostEvent(room, external)
			if tc.externalOK {
				assert.NoError(t, err)
			} else {
				var refused *InviteRefused
				assert.ErrorAs(t, err, &refused)
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		require.NoError(t, s.AddRoom(Room{Mailbox: "room-none@contoso.example", Processing: &Processing{AutomateProcessing: AutoNone}}))
		_, err := s.PostEvent("room-none@contoso.example", private)
		var refused *InviteRefused
		assert.ErrorAs(t, err, &refused)
	})
	t.Run("cancel keeps Canceled: unless RemoveCanceledMeetings", func(t *testing.T) {
		require.NoError(t, s.AddRoom(Room{Mailbox: "room-c1@contoso.example", Processing: ptr(Recommended())}))
		id, err := s.PostEvent("room-c1@contoso.example", newInvite("Planning", t0.Add(time.Hour), time.Hour))
		require.NoError(t, err)
		require.NoError(t, s.CancelEvent("room-c1@contoso.example", id))
		ev, err := s.Event("room-c1@contoso.example", id)
		require.NoError(t, err)
		assert.Equal(t, true, ev["isCancelled"])
		assert.Equal(t, "Canceled: Planning", ev["subject"])

		p := Recommended()
		p.RemoveCanceledMeetings = true
		require.NoError(t, s.AddRoom(Room{Mailbox: "room-c2@contoso.example", Processing: &p}))
		id, err = s.PostEvent("room-c2@contoso.example", newInvite("Planning", t0.Add(time.Hour), time.Hour))
		require.NoError(t, err)
		require.NoError(t, s.CancelEvent("room-c2@contoso.example", id))
		_, err = s.Event("room-c2@contoso.example", id)
		assert.ErrorIs(t, err, ErrNotFound)
	})
}

// TestLimits checks the per-mailbox limits: more than 4 in flight gets MailboxConcurrency, the
// 10-minute rate limit gets Retry-After, and a request before it expired is counted.
func TestLimits(t *testing.T) {
	s, clk := start(t, Options{Latency: 200 * time.Millisecond})
	room := "room-01@contoso.example"
	require.NoError(t, s.AddRoom(Room{Mailbox: room, Processing: ptr(Recommended()), RateLimit: 7}))
	tok := token(t, s)
	path := "/users/" + room + "/calendarView?startDateTime=2026-11-23T00:00:00Z&endDateTime=2026-11-24T00:00:00Z"
	var wg sync.WaitGroup
	statuses := make([]int, 6)
	codes := make([]string, 6)
	for i := range 6 {
		wg.Go(func() {
			a := get(t, s, tok, path)
			statuses[i], codes[i] = a.status, errCode(a)
		})
	}
	wg.Wait()
	assert.GreaterOrEqual(t, s.MailboxStats(room).MaxInFlight, 5)
	throttled := 0
	for i := range statuses {
		if statuses[i] == http.StatusTooManyRequests {
			throttled++
			assert.Equal(t, "ApplicationThrottled", codes[i])
		}
	}
	assert.Positive(t, throttled, "requests over the limit of 4 in flight are refused: %v", statuses)

	// 6 requests so far; the 7th is fine, the 8th is over the limit of 7 per 10 minutes.
	assert.Equal(t, http.StatusOK, get(t, s, tok, path).status)
	over := get(t, s, tok, path)
	require.Equal(t, http.StatusTooManyRequests, over.status)
	assert.Equal(t, "TooManyRequests", errCode(over))
	ra := over.header.Get("Retry-After")
	require.NotEmpty(t, ra)
	assert.Zero(t, s.MailboxStats(room).EarlyRetries)
	get(t, s, tok, path) // too early
	assert.Equal(t, 1, s.MailboxStats(room).EarlyRetries)
	clk.Add(RateWindow)
	assert.Equal(t, http.StatusOK, get(t, s, tok, path).status)
	assert.Equal(t, 1, s.MailboxStats(room).EarlyRetries)
}

func TestBatch(t *testing.T) {
	s, _ := start(t, Options{})
	for _, r := range []string{"room-01@contoso.example", "room-02@contoso.example"} {
		require.NoError(t, s.AddRoom(Room{Mailbox: r, Processing: ptr(Recommended())}))
		_, err := s.PostEvent(r, newInvite("Meeting in "+r, t0.Add(time.Hour), time.Hour))
		require.NoError(t, err)
	}
	tok := token(t, s)
	post := func(parts []map[string]any) answer {
		b, _ := json.Marshal(map[string]any{"requests": parts})
		req, _ := http.NewRequest(http.MethodPost, s.GraphURL()+"/$batch", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.HTTPClient().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		a := answer{status: resp.StatusCode, raw: string(raw)}
		_ = json.Unmarshal(raw, &a.body)
		return a
	}
	q := "/calendarView/delta?startDateTime=2026-11-23T00:00:00Z&endDateTime=2026-11-24T00:00:00Z"
	a := post([]map[string]any{
		{"id": "1", "method": "GET", "url": "/users/room-01@contoso.example" + q, "headers": map[string]string{"Prefer": `odata.maxpagesize=50,outlook.timezone="UTC"`}},
		{"id": "2", "method": "GET", "url": "/users/room-02%40contoso.example" + q},
		{"id": "3", "method": "GET", "url": "/users/missing@contoso.example" + q},
		{"id": "4", "method": "GET", "url": "/users/missing@contoso.example" + q, "dependsOn": []string{"3"}},
	})
	require.Equal(t, http.StatusOK, a.status, a.raw)
	byID := map[string]map[string]any{}
	for _, r := range a.body["responses"].([]any) {
		rm := r.(map[string]any)
		byID[rm["id"].(string)] = rm
	}
	assert.EqualValues(t, 200, byID["1"]["status"])
	assert.EqualValues(t, 200, byID["2"]["status"])
	assert.EqualValues(t, 404, byID["3"]["status"])
	assert.EqualValues(t, 424, byID["4"]["status"])
	assert.Len(t, byID["1"]["body"].(map[string]any)["value"], 1)
	assert.Equal(t, 1, s.MailboxStats("room-01@contoso.example").Requests)

	var tooMany []map[string]any
	for i := range BatchLimit + 1 {
		tooMany = append(tooMany, map[string]any{"id": fmt.Sprint(i), "method": "GET", "url": "/users/room-01@contoso.example" + q})
	}
	assert.Equal(t, http.StatusBadRequest, post(tooMany).status)
}

func TestFaults(t *testing.T) {
	s, _ := start(t, Options{})
	room := "room-01@contoso.example"
	require.NoError(t, s.AddRoom(Room{Mailbox: room}))
	tok := token(t, s)
	path := "/users/" + room + "/calendarView?startDateTime=2026-11-23T00:00:00Z&endDateTime=2026-11-24T00:00:00Z"
	_, err := s.AddFault(Fault{Kind: FaultStatus, Mailbox: room, Status: 503, RetryAfter: 7, Count: 1})
	require.NoError(t, err)
	a := get(t, s, tok, path)
	assert.Equal(t, http.StatusServiceUnavailable, a.status)
	assert.Equal(t, "7", a.header.Get("Retry-After"))
	assert.Equal(t, http.StatusOK, get(t, s, tok, path).status, "a fault with a count goes away")

	_, err = s.AddFault(Fault{Kind: FaultGarbage, Mailbox: room, Count: 1})
	require.NoError(t, err)
	g := get(t, s, tok, path)
	assert.Equal(t, http.StatusOK, g.status)
	assert.Nil(t, g.body, "the body is not valid JSON")

	_, err = s.AddFault(Fault{Kind: FaultToken, Count: 1})
	require.NoError(t, err)
	resp, err := s.HTTPClient().PostForm(s.TokenURL(), url.Values{"grant_type": {"client_credentials"}, "client_id": {s.ClientID()},
		"client_secret": {s.ClientSecret()}, "scope": {"https://graph.microsoft.com/.default"}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

func TestAdminAPI(t *testing.T) {
	s, _ := start(t, Options{})
	do := func(method, path string, body any) (int, map[string]any) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, s.AdminURL()+path, rd)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	st, _ := do("POST", "/rooms", map[string]any{"mailbox": "room-01@contoso.example", "processing": Recommended()})
	require.Equal(t, http.StatusCreated, st)
	st, out := do("POST", "/rooms/room-01@contoso.example/events", newInvite("Admin-made", t0.Add(time.Hour), time.Hour))
	require.Equal(t, http.StatusCreated, st)
	id := out["id"].(string)
	require.NotEmpty(t, id)
	st, _ = do("PATCH", "/rooms/room-01@contoso.example/events/"+id, map[string]any{"subject": "Renamed"})
	assert.Equal(t, http.StatusOK, st)
	st, ev := do("GET", "/rooms/room-01@contoso.example/events/"+id, nil)
	assert.Equal(t, http.StatusOK, st)
	assert.Equal(t, "Renamed", ev["subject"])
	st, _ = do("PATCH", "/rooms/room-01@contoso.example", map[string]any{"processing": map[string]any{"delete_comments": true}, "in_policy": false})
	assert.Equal(t, http.StatusOK, st)
	info, err := s.RoomInfo("room-01@contoso.example")
	require.NoError(t, err)
	assert.True(t, info.Processing.DeleteComments)
	assert.False(t, info.InPolicy)
	st, _ = do("DELETE", "/rooms/room-01@contoso.example/events/"+id, nil)
	assert.Equal(t, http.StatusNoContent, st)
	st, _ = do("GET", "/rooms/room-01@contoso.example/events/"+id, nil)
	assert.Equal(t, http.StatusNotFound, st)
	st, stats := do("GET", "/stats", nil)
	assert.Equal(t, http.StatusOK, st)
	assert.Contains(t, stats["mailboxes"], "room-01@contoso.example")
	st, _ = do("POST", "/faults", map[string]any{"kind": "nonsense"})
	assert.Equal(t, http.StatusBadRequest, st)
}

// TestScenario checks the generator: deterministic, every provider, private, cancelled and
// recurring meetings, one about to start, and the problem rooms.
func TestScenario(t *testing.T) {
	rooms := []string{"room-01@contoso.example", "room-02@contoso.example", "room-03@contoso.example", "room-04@contoso.example", "room-05@contoso.example"}
	gen := func() (*Server, Summary) {
		s, _ := start(t, Options{})
		sum, err := s.Load(Scenario{Rooms: rooms, Meetings: 40, Seed: 7, Now: t0, Problems: true})
		require.NoError(t, err)
		return s, sum
	}
	s1, sum1 := gen()
	s2, sum2 := gen()
	assert.Equal(t, sum1, sum2, "same seed, same scenario")
	ev1, _ := s1.Events("room-02@contoso.example")
	ev2, _ := s2.Events("room-02@contoso.example")
	assert.Equal(t, ev1, ev2)

	for _, p := range providerMix {
		assert.Positive(t, sum1.Providers[p.name], "provider %s appears", p.name)
	}
	assert.Positive(t, sum1.Series)
	assert.Positive(t, sum1.Refused, "the room with Exchange's defaults declines external invites")
	assert.Len(t, sum1.Problems, 2)
	assert.True(t, sum1.SoonestStart.After(t0) && sum1.SoonestStart.Before(t0.Add(5*time.Minute)), "a meeting starts within minutes: %s", sum1.SoonestStart)
	info, _ := s1.RoomInfo("room-05@contoso.example")
	assert.False(t, info.InPolicy)

	private, cancelled, exceptions := 0, 0, 0
	for _, r := range rooms[:3] {
		insts, err := s1.CalendarView(r, t0.Add(-24*time.Hour), t0.Add(8*24*time.Hour))
		require.NoError(t, err)
		assert.InDelta(t, 40, len(insts), 6, "room %s has about 40 meetings", r)
		for _, ev := range insts {
			if ev["sensitivity"] == "private" {
				private++
			}
			if ev["isCancelled"] == true {
				cancelled++
			}
			if ev["type"] == "exception" {
				exceptions++
			}
		}
	}
	assert.Positive(t, private)
	assert.Positive(t, cancelled)
	assert.Positive(t, exceptions)
}

// Graph writes an HTML body as it is in its JSON (<p>, &amp;), not as \u003cp\u003e: so does
// the simulator, and the body reads back the same.
func TestBodiesAreServedWithHTMLAsIs(t *testing.T) {
	s, _ := start(t, Options{})
	room := "room-01@contoso.example"
	yes := true
	require.NoError(t, s.AddRoom(Room{Mailbox: room, Processing: ptr(Recommended()), InPolicy: &yes}))
	inv := newInvite("Review", t0.Add(time.Hour), 30*time.Minute)
	inv["body"] = map[string]any{"contentType": "html", "content": `<p>Join: <a href="https://zoom.us/j/81234567890?pwd=a&amp;b">Zoom</a> & sip:vmr@vc.contoso.example</p>`}
	_, err := s.PostEvent(room, inv)
	require.NoError(t, err)
	a := get(t, s, token(t, s), "/users/"+room+"/calendarView/delta?startDateTime=2026-11-23T00:00:00Z&endDateTime=2026-11-24T00:00:00Z")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Contains(t, a.raw, `<p>Join: <a href=\"https://zoom.us/j/81234567890?pwd=a&amp;b\">Zoom</a> & sip:`)
	assert.NotContains(t, a.raw, `\u003c`)
	items := values(a)
	require.Len(t, items, 1)
	assert.Equal(t, inv["body"].(map[string]any)["content"], items[0]["body"].(map[string]any)["content"])
}
