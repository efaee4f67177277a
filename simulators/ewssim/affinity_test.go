package ewssim

import (
	"net/http"
	"strings"
	"testing"
)

// userSettings asks GetUserSettings for users and returns each user's settings by name (an
// error code under "ErrorCode"), or the Response's error code.
func userSettings(t *testing.T, c *client, users []string, names ...string) ([]map[string]string, string) {
	t.Helper()
	var u, n strings.Builder
	for _, a := range users {
		u.WriteString(`<a:User><a:Mailbox>` + a + `</a:Mailbox></a:User>`)
	}
	for _, s := range names {
		n.WriteString(`<a:Setting>` + s + `</a:Setting>`)
	}
	req := `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:a="http://schemas.microsoft.com/exchange/2010/Autodiscover" ` +
		`xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header>` +
		`<a:RequestedServerVersion>Exchange2013_SP1</a:RequestedServerVersion></soap:Header><soap:Body><a:GetUserSettingsRequestMessage>` +
		`<a:Request><a:Users>` + u.String() + `</a:Users><a:RequestedSettings>` + n.String() + `</a:RequestedSettings></a:Request>` +
		`</a:GetUserSettingsRequestMessage></soap:Body></soap:Envelope>`
	status, _, b := c.post(c.s.AutodiscoverURL(), req)
	var env node
	if err := xmlUnmarshal(b, &env); status != http.StatusOK || err != nil {
		t.Fatalf("GetUserSettings: status %d %v", status, err)
	}
	resp := env.find("Response")
	if code := resp.child("ErrorCode").text(); code != "NoError" {
		return nil, code
	}
	var out []map[string]string
	for _, ur := range resp.child("UserResponses").all("UserResponse") {
		m := map[string]string{"ErrorCode": ur.child("ErrorCode").text()}
		for _, us := range ur.child("UserSettings").all("UserSetting") {
			m[us.child("Name").text()] = us.child("Value").text()
		}
		out = append(out, m)
	}
	return out, "NoError"
}

// TestRoomsLiveOnSeveralServersAndStreamsKeepToOne: with backends 3, autodiscover gives the
// rooms different GroupingInformation values (room 1 on EXCH01, rooms 2 and 3 on EXCH02 with
// this hash); with require_affinity a stream routed to EXCH02 carries rooms 2 and 3, and one
// that also names room 1's subscription is refused for it (ErrorSubscriptionNotFound), as a
// multi-server site refuses a group that ignores GroupingInformation.
func TestRoomsLiveOnSeveralServersAndStreamsKeepToOne(t *testing.T) {
	_, s := start(t, Options{Backends: 3, RequireAffinity: true})
	c := defaultClient(t, s)

	got, rcode := userSettings(t, c, []string{room1, room2, room3}, "GroupingInformation", "ExternalEwsUrl", "InternalMailboxServer")
	if rcode != "NoError" || len(got) != 3 {
		t.Fatalf("GetUserSettings: %s %v", rcode, got)
	}
	want := []string{"EXCH01", "EXCH02", "EXCH02"}
	for i, g := range got {
		if g["GroupingInformation"] != want[i] || g["ExternalEwsUrl"] != s.EWSURL() ||
			g["InternalMailboxServer"] != strings.ToLower(want[i])+".contoso.example" {
			t.Fatalf("room %d settings %v, want GroupingInformation %s", i+1, g, want[i])
		}
	}
	// Exchange's MaxUsersPerGetUserSettingsRequest (90): one more is refused whole.
	many := make([]string, MaxUsersPerGetUserSettings+1)
	for i := range many {
		many[i] = room1
	}
	if _, rcode := userSettings(t, c, many, "GroupingInformation"); rcode != "InvalidRequest" {
		t.Fatalf("%d users in one request: %s, want InvalidRequest", len(many), rcode)
	}

	// A group anchored on room 2 (EXCH02): its first Subscribe gets the cookie.
	c.headers.Set("X-AnchorMailbox", room2)
	c.headers.Set("X-PreferServerAffinity", "true")
	_, h, b := c.post(s.EWSURL(), `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="`+nsTypes+
		`" xmlns:m="`+nsMessages+`"><soap:Header>`+impersonate(room2)+`</soap:Header><soap:Body>`+subscribeOp("")+`</soap:Body></soap:Envelope>`)
	var cookie *http.Cookie
	for _, ck := range (&http.Response{Header: h}).Cookies() {
		if ck.Name == affinityCookie {
			cookie = ck
		}
	}
	if cookie == nil || !strings.HasPrefix(cookie.Value, "EXCH02~") {
		t.Fatalf("affinity cookie %v, want one for EXCH02", cookie)
	}
	var env node
	_ = xmlUnmarshal(b, &env)
	id2 := msgs(&env)[0].child("SubscriptionId").text()
	c.headers.Set("Cookie", cookie.Name+"="+cookie.Value)
	id3 := subscribe(t, c, room3)
	id1 := subscribe(t, c, room1) // Exchange accepts it; the subscription lives on EXCH01

	_, n := c.call(impersonate(room2), streamOp(1, id2, id3, id1))
	m := msgs(n)[0]
	if code(m) != "ErrorSubscriptionNotFound" {
		t.Fatalf("a stream mixing servers: %s, want ErrorSubscriptionNotFound", code(m))
	}
	if bad := m.child("ErrorSubscriptionIds").all("SubscriptionId"); len(bad) != 1 || bad[0].text() != id1 {
		t.Fatalf("refused ids %d, want only room 1's", len(bad))
	}
	if st := s.Stats(); st.AffinityRefusals != 1 {
		t.Fatalf("affinity_refusals %d, want 1", st.AffinityRefusals)
	}
	ch, _ := openStream(t, c, room2, streamOp(1, id2, id3))
	if m := next(t, ch); m.child("ConnectionStatus").text() != "OK" {
		t.Fatalf("a stream of one server's rooms: %s", code(m))
	}
}
