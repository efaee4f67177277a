package polysim

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeServer answers each EWS operation with a canned body, so the strict client's checks can
// be tested one by one (the real service is tested against polysim in device/poly).
type fakeServer struct {
	mu      sync.Mutex
	answers map[string]string // operation → response body
	status  int
	srv     *httptest.Server
}

func newFakeServer(t *testing.T) *fakeServer {
	fs := &fakeServer{answers: map[string]string{}, status: 200}
	fs.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fs.mu.Lock()
		defer fs.mu.Unlock()
		for op, resp := range fs.answers {
			if bytes.Contains(body, []byte("<m:"+op)) {
				w.Header().Set("Content-Type", "text/xml; charset=utf-8")
				w.WriteHeader(fs.status)
				io.WriteString(w, resp)
				return
			}
		}
		w.WriteHeader(500)
	}))
	t.Cleanup(fs.srv.Close)
	fs.set("GetFolder", okEnvelope("GetFolder", `<m:Folders><t:CalendarFolder><t:FolderId Id="F1" ChangeKey="C1"/></t:CalendarFolder></m:Folders>`))
	fs.set("FindItem", okEnvelope("FindItem", `<m:RootFolder TotalItemsInView="1" IncludesLastItemInRange="true"><t:Items>`+goodItem+`</t:Items></m:RootFolder>`))
	fs.set("GetItem", okEnvelope("GetItem", `<m:Items>`+strings.Replace(goodItem, `<t:Start>`, `<t:Body BodyType="Text">sip:123@vc.example&#xA;Join</t:Body><t:Start>`, 1)+`</m:Items>`))
	return fs
}

const goodItem = `<t:CalendarItem><t:ItemId Id="ITEM-1" ChangeKey="K1"/><t:Subject>Sync</t:Subject><t:Sensitivity>Normal</t:Sensitivity>` +
	`<t:Start>2025-05-05T09:00:00Z</t:Start><t:End>2025-05-05T09:30:00Z</t:End><t:Location>sip:123@vc.example</t:Location>` +
	`<t:CalendarItemType>Single</t:CalendarItemType></t:CalendarItem>`

func okEnvelope(op, inner string) string {
	return `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="` + nsSOAP + `"><s:Header><h:ServerVersionInfo xmlns:h="` + nsTypes + `" MajorVersion="15"/></s:Header>` +
		`<s:Body><m:` + op + `Response xmlns:m="` + nsMsgs + `" xmlns:t="` + nsTypes + `"><m:ResponseMessages><m:` + op + `ResponseMessage ResponseClass="Success">` +
		`<m:ResponseCode>NoError</m:ResponseCode>` + inner + `</m:` + op + `ResponseMessage></m:ResponseMessages></m:` + op + `Response></s:Body></s:Envelope>`
}

func (fs *fakeServer) set(op, body string) {
	fs.mu.Lock()
	fs.answers[op] = body
	fs.mu.Unlock()
}

func (fs *fakeServer) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(fs.srv.Certificate())
	return p
}

func startOne(t *testing.T, fs *fakeServer, tweak func(*EndpointOptions)) (*Fleet, *Endpoint) {
	t.Helper()
	o := EndpointOptions{Name: "ep", Room: "room@x.example", EWSURL: fs.srv.URL + "/EWS/Exchange.asmx", Username: "u", Password: "p", RootCAs: fs.pool()}
	if tweak != nil {
		tweak(&o)
	}
	fl, err := Start(t.Context(), Options{Endpoints: []EndpointOptions{o}, Now: func() time.Time { return time.Date(2025, 5, 5, 8, 0, 0, 0, time.UTC) }})
	require.NoError(t, err)
	t.Cleanup(fl.Close)
	return fl, fl.Endpoint("ep")
}

func TestStrictClientAcceptsAGoodServer(t *testing.T) {
	fs := newFakeServer(t)
	_, ep := startOne(t, fs, nil)
	require.NoError(t, ep.PollNow(t.Context()))
	ms := ep.Meetings()
	require.Len(t, ms, 1)
	assert.Equal(t, "Sync", ms[0].Subject)
	assert.Equal(t, "123@vc.example", ms[0].DialString)
	assert.Equal(t, "sip", ms[0].Protocol)
	assert.True(t, ms[0].CanDial)
	assert.Equal(t, StateOnline, ep.Status().State)
}

// TestStrictClientRejects: each thing a strict EWS client refuses makes the poll fail with
// ERR_UNKNOWN (and keeps the last good meetings).
func TestStrictClientRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		op, body, want string
	}{
		"https namespace":      {"GetFolder", strings.ReplaceAll(okEnvelope("GetFolder", `<m:Folders/>`), nsMsgs, "https"+nsMsgs[4:]), "GetFolderResponse"},
		"no ServerVersionInfo": {"GetFolder", strings.Replace(okEnvelope("GetFolder", ""), `<h:ServerVersionInfo xmlns:h="`+nsTypes+`" MajorVersion="15"/>`, "", 1), "ServerVersionInfo"},
		"no ResponseCode":      {"GetFolder", strings.Replace(okEnvelope("GetFolder", `<m:Folders/>`), `<m:ResponseCode>NoError</m:ResponseCode>`, "", 1), "no ResponseCode"},
		"out of order":         {"FindItem", okEnvelope("FindItem", `<m:RootFolder TotalItemsInView="1"><t:Items>`+strings.Replace(goodItem, `<t:Subject>Sync</t:Subject><t:Sensitivity>Normal</t:Sensitivity>`, `<t:Sensitivity>Normal</t:Sensitivity><t:Subject>Sync</t:Subject>`, 1)+`</t:Items></m:RootFolder>`), "out of schema order"},
		"unknown element":      {"FindItem", okEnvelope("FindItem", `<m:RootFolder TotalItemsInView="1"><t:Items>`+strings.Replace(goodItem, `<t:Subject>`, `<t:Colour>red</t:Colour><t:Subject>`, 1)+`</t:Items></m:RootFolder>`), "does not know"},
		"local time":           {"FindItem", okEnvelope("FindItem", `<m:RootFolder TotalItemsInView="1"><t:Items>`+strings.Replace(goodItem, `09:00:00Z`, `09:00:00+02:00`, 1)+`</t:Items></m:RootFolder>`), "not UTC"},
		"pipe in id":           {"FindItem", okEnvelope("FindItem", `<m:RootFolder TotalItemsInView="1"><t:Items>`+strings.Replace(goodItem, `ITEM-1`, `ITEM|1`, 1)+`</t:Items></m:RootFolder>`), "contains '|'"},
		"master in view":       {"FindItem", okEnvelope("FindItem", `<m:RootFolder TotalItemsInView="1"><t:Items>`+strings.Replace(goodItem, `>Single<`, `>RecurringMaster<`, 1)+`</t:Items></m:RootFolder>`), "not an occurrence"},
		"unsorted":             {"FindItem", okEnvelope("FindItem", `<m:RootFolder TotalItemsInView="2"><t:Items>`+strings.Replace(strings.Replace(goodItem, "ITEM-1", "ITEM-2", 1), "09:", "10:", 2)+goodItem+`</t:Items></m:RootFolder>`), "not sorted"},
		"no body":              {"GetItem", okEnvelope("GetItem", `<m:Items>`+goodItem+`</m:Items>`), "has no Body"},
		"soap fault":           {"GetFolder", `<s:Envelope xmlns:s="` + nsSOAP + `"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>nope</faultstring></s:Fault></s:Body></s:Envelope>`, "SOAP fault"},
		"error message":        {"GetFolder", strings.Replace(okEnvelope("GetFolder", ""), `ResponseClass="Success"><m:ResponseCode>NoError`, `ResponseClass="Error"><m:MessageText>denied</m:MessageText><m:ResponseCode>ErrorAccessDenied`, 1), "ErrorAccessDenied"},
	} {
		t.Run(name, func(t *testing.T) {
			fs := newFakeServer(t)
			_, ep := startOne(t, fs, nil)
			require.NoError(t, ep.PollNow(t.Context()))
			if tc.body[0] == '<' && strings.Contains(tc.body, "Fault") {
				fs.status = 500
			}
			fs.set(tc.op, tc.body)
			fs.set("FindItem", strings.Replace(mustGet(fs, "FindItem"), `ChangeKey="K1"`, `ChangeKey="K2"`, 1)) // force a GetItem
			err := ep.PollNow(t.Context())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			st := ep.Status()
			assert.Equal(t, StateUnknownErr, st.State)
			assert.Len(t, st.Meetings, 1, "the last good meetings are kept")
		})
	}
}

func mustGet(fs *fakeServer, op string) string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.answers[op]
}

func TestStatesFollowFailures(t *testing.T) {
	fs := newFakeServer(t)
	_, ep := startOne(t, fs, nil)
	fs.status = 401
	require.Error(t, ep.PollNow(t.Context()))
	assert.Equal(t, StateAuthError, ep.Status().State)
	fs.srv.Close()
	require.Error(t, ep.PollNow(t.Context()))
	assert.Equal(t, StateOffline, ep.Status().State)
	// The lenient toggle accepts out-of-order items.
	_, ep2 := startOne(t, newFakeServer(t), func(o *EndpointOptions) { o.LenientOrder = true })
	require.NoError(t, ep2.PollNow(t.Context()))
}

func TestDialPatterns(t *testing.T) {
	fs := newFakeServer(t)
	_, ep := startOne(t, fs, nil)
	for _, tc := range []struct{ loc, body, dial, proto string }{
		{"sip:alias@vc.example", "", "alias@vc.example", "sip"},
		{"Room 4 (10.0.0.5##77)", "", "10.0.0.5##77", "h323"},
		{"", "Join with +4722334455 now", "+4722334455", "h323"},
		{"Board room", "h323:gk.example/1234\nsip:x@y.example", "gk.example/1234", "h323"},
		{"", "<p>Video: <b>meet@vmr.example</b></p>", "meet@vmr.example", "sip"},
		{"Board room", "Quarterly numbers 2025", "", ""},
	} {
		dial, proto := ep.dialString(tc.loc, tc.body)
		assert.Equal(t, tc.dial, dial, "%q / %q", tc.loc, tc.body)
		assert.Equal(t, tc.proto, proto)
	}
	// Patterns are configurable: an endpoint that only knows SIP URIs.
	_, strict := startOne(t, fs, func(o *EndpointOptions) { o.DialPatterns = []string{`(?i)\bsip:(\S+)`} })
	dial, _ := strict.dialString("10.0.0.5", "meet@vmr.example")
	assert.Empty(t, dial)
	_, err := Start(t.Context(), Options{Endpoints: []EndpointOptions{{Name: "x", DialPatterns: []string{"("}}}})
	assert.ErrorContains(t, err, "dial pattern")
}

// TestAdminAndRESTSurfaces: the admin API reports what the endpoint shows and injects faults;
// the REST surface needs a session, lists meetings with canDial and dials on Join.
func TestAdminAndRESTSurfaces(t *testing.T) {
	fs := newFakeServer(t)
	fl, ep := startOne(t, fs, nil)
	admin := fl.AdminURL()

	var st Status
	postJSON(t, http.DefaultClient, admin+"/endpoints/ep/poll", "", &st, 200)
	assert.Equal(t, StateOnline, st.State)
	require.Len(t, st.Meetings, 1)
	assert.True(t, st.Meetings[0].CanDial)
	assert.False(t, st.LastPoll.IsZero())

	var raw []map[string]any
	getJSON(t, http.DefaultClient, admin+"/endpoints", &raw, 200)
	require.Len(t, raw, 1)
	assert.Equal(t, "ep", raw[0]["name"])
	var shown map[string]any
	getJSON(t, http.DefaultClient, admin+"/endpoints/ep/meetings", &shown, 200)
	m := shown["meetings"].([]any)[0].(map[string]any)
	for _, k := range []string{"subject", "start", "end", "dial_string", "canDial"} {
		assert.Contains(t, m, k)
	}
	assert.Contains(t, shown, "last_poll")
	getJSON(t, http.DefaultClient, admin+"/endpoints/nope/meetings", &shown, 404)

	req, _ := http.NewRequest(http.MethodPut, admin+"/endpoints/ep/faults", strings.NewReader(`{"stop_polling": true}`))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.True(t, ep.Faults().StopPolling)
	postJSON(t, http.DefaultClient, admin+"/endpoints/ep/poll", "", nil, 409)
	req, _ = http.NewRequest(http.MethodPut, admin+"/endpoints/ep/faults", strings.NewReader(`{"stop_poling": true}`))
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 400, resp.StatusCode, "a misspelt fault is refused, not ignored")
	postJSON(t, http.DefaultClient, admin+"/endpoints/ep/junk", `{"kind":"nonsense"}`, nil, 400)

	// REST: no session, no data.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	rest := ep.RESTURL()
	getJSON(t, c, rest+"/rest/system", nil, 403)
	postJSON(t, c, rest+"/rest/session", `{"user":"admin","password":"wrong"}`, nil, 401)
	var login struct {
		Success   bool   `json:"success"`
		SessionID string `json:"sessionId"`
	}
	postJSON(t, c, rest+"/rest/session", `{"user":"admin","password":"Polycom12345"}`, &login, 200)
	require.True(t, login.Success)
	withSession := func(method, url, body string, out any, status int) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.AddCookie(&http.Cookie{Name: "session_id", Value: login.SessionID})
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, status, resp.StatusCode, url)
		if out != nil {
			require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
		}
	}
	var sys map[string]any
	withSession("GET", rest+"/rest/system", "", &sys, 200)
	assert.Equal(t, "StudioX50", sys["model"])
	var cal map[string]any
	withSession("GET", rest+"/rest/calendar", "", &cal, 200)
	assert.Equal(t, StateOnline, cal["status"])
	var meetings []map[string]any
	withSession("GET", rest+"/rest/calendar/meetings", "", &meetings, 200)
	require.Len(t, meetings, 1)
	assert.Equal(t, true, meetings[0]["canDial"])
	assert.EqualValues(t, time.Date(2025, 5, 5, 9, 0, 0, 0, time.UTC).Unix(), meetings[0]["startTime"])
	withSession("POST", rest+"/rest/calendar/meetings/ITEM-1", "", nil, 200)
	var confs []Conference
	withSession("GET", rest+"/rest/conferences", "", &confs, 200)
	require.Len(t, confs, 1)
	assert.Equal(t, "123@vc.example", confs[0].Address)

	// A reboot drops the session and changes the certificate.
	before := ep.RESTCertificate().Certificate[0]
	postJSON(t, http.DefaultClient, admin+"/endpoints/ep/reboot", "", nil, 200)
	assert.NotEqual(t, before, ep.RESTCertificate().Certificate[0])
	withSession("GET", rest+"/rest/system", "", nil, 403)
}

func getJSON(t *testing.T, c *http.Client, url string, out any, status int) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, status, resp.StatusCode, url)
	if out != nil && status == 200 {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
}

func postJSON(t *testing.T, c *http.Client, url, body string, out any, status int) {
	t.Helper()
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, status, resp.StatusCode, url)
	if out != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
}
