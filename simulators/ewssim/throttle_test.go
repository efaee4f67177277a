package ewssim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

func backOff(n *node) int {
	for _, v := range n.path("Body", "Fault", "detail", "MessageXml").all("Value") {
		if v.attr("Name") == "BackOffMilliseconds" {
			ms, _ := strconv.Atoi(v.text())
			return ms
		}
	}
	return -1
}

func TestServerBusyFaultPerMailboxAndOperation(t *testing.T) {
	_, s := start(t, Options{})
	c := defaultClient(t, s)
	if _, err := s.AddFault(Fault{Mailbox: room1, Operation: "SyncFolderItems", BackOffMilliseconds: 1500, Count: 2}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		status, n := c.call(impersonate(room1), syncOp("", 5))
		if status != http.StatusInternalServerError || faultCode(n) != "ErrorServerBusy" || backOff(n) != 1500 {
			t.Fatalf("call %d: status %d, %q, BackOffMilliseconds %d", i, status, faultCode(n), backOff(n))
		}
	}
	// Other rooms and other operations were never affected; the fault is used up.
	if _, n := c.call(impersonate(room2), syncOp("", 5)); code(msgs(n)[0]) != "NoError" {
		t.Fatalf("room 2: %s", code(msgs(n)[0]))
	}
	if _, n := c.call(impersonate(room1), syncOp("", 5)); code(msgs(n)[0]) != "NoError" {
		t.Fatalf("after Count: %s", code(msgs(n)[0]))
	}
	st := s.Stats()
	if st.ServerBusy != 2 || st.Mailboxes[room1].ServerBusy != 2 || st.Mailboxes[room1].ByOperation["SyncFolderItems"] != 3 ||
		st.Accounts[DefaultUser].ServerBusy != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestServerBusyFaultForADuration(t *testing.T) {
	var now atomic.Int64
	now.Store(t0.UnixNano())
	_, s := start(t, Options{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	c := defaultClient(t, s)
	if _, err := s.AddFault(Fault{BackOffMilliseconds: 100, Duration: graphsim.Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, n := c.call(impersonate(room1), syncOp("", 5)); faultCode(n) != "ErrorServerBusy" {
		t.Fatalf("within the duration: %q", faultCode(n))
	}
	now.Add(int64(2 * time.Minute))
	if _, n := c.call(impersonate(room1), syncOp("", 5)); code(msgs(n)[0]) != "NoError" {
		t.Fatalf("after the duration: %s", code(msgs(n)[0]))
	}
}

func TestConcurrencyLimitPerAccount(t *testing.T) {
	_, s := start(t, Options{MaxConcurrency: 2})
	c := defaultClient(t, s)
	if _, n := c.call(impersonate(room1), syncOp("", 5)); code(msgs(n)[0]) != "NoError" {
		t.Fatal(code(msgs(n)[0]))
	}
	// Two requests of the account are in flight (held, as a slow mailbox would).
	s.mu.Lock()
	s.accounts[DefaultUser].inFlight = 2
	s.mu.Unlock()
	status, n := c.call(impersonate(room2), syncOp("", 5))
	if status != http.StatusInternalServerError || faultCode(n) != "ErrorServerBusy" ||
		!strings.Contains(n.path("Body", "Fault", "detail", "MessageXml").find("Value").text(), "MaxConcurrency") {
		t.Fatalf("third concurrent request: status %d %q", status, faultCode(n))
	}
	s.mu.Lock()
	s.accounts[DefaultUser].inFlight = 0
	s.mu.Unlock()
	if _, n := c.call(impersonate(room2), syncOp("", 5)); code(msgs(n)[0]) != "NoError" {
		t.Fatalf("after the others finished: %s", code(msgs(n)[0]))
	}
	if p := s.Stats().Accounts[DefaultUser].PeakConcurrency; p != 1 {
		t.Fatalf("peak concurrency of sequential requests: %d", p)
	}
}

func TestRequestRateBudget(t *testing.T) {
	_, s := start(t, Options{Accounts: []Account{{User: DefaultUser, Password: DefaultPassword, Impersonation: ImpersonateAll, RequestsPerMinute: 2}}})
	c := defaultClient(t, s)
	for range 2 {
		if _, n := c.call(impersonate(room1), syncOp("", 5)); code(msgs(n)[0]) != "NoError" {
			t.Fatal(code(msgs(n)[0]))
		}
	}
	_, n := c.call(impersonate(room1), syncOp("", 5))
	if faultCode(n) != "ErrorServerBusy" || backOff(n) <= 0 || backOff(n) > 60_000 {
		t.Fatalf("over the budget: %q, BackOffMilliseconds %d", faultCode(n), backOff(n))
	}
}

func TestLatency(t *testing.T) {
	_, s := start(t, Options{Latency: 150 * time.Millisecond})
	c := defaultClient(t, s)
	c.call(impersonate(room1), syncOp("", 5)) // handshake
	began := time.Now()
	c.call(impersonate(room1), syncOp("", 5))
	if d := time.Since(began); d < 150*time.Millisecond {
		t.Fatalf("request took %v with 150 ms latency", d)
	}
}

func TestAutodiscover(t *testing.T) {
	_, s := start(t, Options{})
	c := defaultClient(t, s)
	req := `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:a="http://schemas.microsoft.com/exchange/2010/Autodiscover" ` +
		`xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header>` +
		`<a:RequestedServerVersion>Exchange2013_SP1</a:RequestedServerVersion><wsa:Action>http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettings</wsa:Action>` +
		`</soap:Header><soap:Body><a:GetUserSettingsRequestMessage><a:Request><a:Users><a:User><a:Mailbox>` + room1 + `</a:Mailbox></a:User>` +
		`<a:User><a:Mailbox>nobody@contoso.example</a:Mailbox></a:User></a:Users><a:RequestedSettings><a:Setting>UserDisplayName</a:Setting>` +
		`<a:Setting>InternalEwsUrl</a:Setting><a:Setting>ExternalEwsUrl</a:Setting><a:Setting>GroupingInformation</a:Setting><a:Setting>Bogus</a:Setting>` +
		`</a:RequestedSettings></a:Request></a:GetUserSettingsRequestMessage></soap:Body></soap:Envelope>`
	status, _, b := c.post(s.AutodiscoverURL(), req)
	var env node
	if err := xmlUnmarshal(b, &env); status != http.StatusOK || err != nil {
		t.Fatalf("status %d %v", status, err)
	}
	users := env.find("UserResponses").all("UserResponse")
	settings := map[string]string{}
	for _, us := range users[0].child("UserSettings").all("UserSetting") {
		settings[us.child("Name").text()] = us.child("Value").text()
	}
	if settings["InternalEwsUrl"] != s.EWSURL() || settings["ExternalEwsUrl"] != s.EWSURL() || settings["UserDisplayName"] != "Room 01" ||
		settings["GroupingInformation"] == "" || users[0].path("UserSettingErrors", "UserSettingError", "SettingName").text() != "Bogus" {
		t.Fatalf("settings %v", settings)
	}
	if users[1].child("ErrorCode").text() != "InvalidUser" {
		t.Fatalf("unknown user: %s", users[1].child("ErrorCode").text())
	}
	pox := `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">` +
		`<Request><EMailAddress>` + DefaultUser + `@contoso.example</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
	_, _, b = c.post(s.AutodiscoverPOXURL(), pox)
	var px node
	_ = xmlUnmarshal(b, &px)
	if px.find("EwsUrl").text() != s.EWSURL() || px.find("Action").text() != "settings" {
		t.Fatalf("POX: %s", b)
	}
	if status, _, _ := ntlmClient(t, s, `CONTOSO\svc-otj`, "bad").post(s.AutodiscoverPOXURL(), pox); status != http.StatusUnauthorized {
		t.Fatalf("autodiscover with a wrong password: %d", status)
	}
}

func TestAdminAPI(t *testing.T) {
	_, s := start(t, Options{})
	do := func(method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, s.AdminURL()+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		return resp.StatusCode, buf.Bytes()
	}
	if st, b := do("GET", "/rooms", ""); st != 200 || !strings.Contains(string(b), room1) {
		t.Fatalf("graphsim's /rooms through ewssim's admin: %d %s", st, b)
	}
	if st, _ := do("POST", "/ews/accounts", `{"user":"svc-two","password":"pw2"}`); st != 201 {
		t.Fatalf("POST /ews/accounts: %d", st)
	}
	if st, _ := do("PUT", "/ews/accounts/svc-two/delegate/"+room2, `{"right":"Reviewer"}`); st != 204 {
		t.Fatalf("PUT delegate: %d", st)
	}
	two := ntlmClient(t, s, "svc-two@contoso.example", "pw2")
	if _, n := two.call("", calendarViewOp(calendarFolder(room2), t0, t0.Add(time.Hour), 0)); code(msgs(n)[0]) != "NoError" {
		t.Fatalf("delegate granted through the admin API: %s", code(msgs(n)[0]))
	}
	if st, _ := do("PUT", "/ews/accounts/svc-two/impersonation", `{"impersonation":"scope","scope":["`+room3+`"]}`); st != 204 {
		t.Fatalf("PUT impersonation: %d", st)
	}
	if _, n := two.call(impersonate(room3), syncOp("", 1)); code(msgs(n)[0]) != "NoError" {
		t.Fatalf("impersonation granted through the admin API: %s", code(msgs(n)[0]))
	}
	if st, _ := do("POST", "/ews/faults", `{"kind":"server_busy","mailbox":"`+room3+`","back_off_ms":250,"count":1}`); st != 201 {
		t.Fatalf("POST /ews/faults: %d", st)
	}
	if _, n := two.call(impersonate(room3), syncOp("", 1)); faultCode(n) != "ErrorServerBusy" || backOff(n) != 250 {
		t.Fatalf("fault from the admin API: %q %d", faultCode(n), backOff(n))
	}
	if st, b := do("PATCH", "/ews/settings", `{"extended_protection":true,"latency":"5ms"}`); st != 200 || !strings.Contains(string(b), `"extended_protection":true`) {
		t.Fatalf("PATCH /ews/settings: %d %s", st, b)
	}
	st, b := do("GET", "/ews/stats", "")
	var stats Stats
	if err := json.Unmarshal(b, &stats); st != 200 || err != nil || stats.Mailboxes[room3].ServerBusy != 1 || stats.Accounts["svc-two"].Requests < 3 {
		t.Fatalf("GET /ews/stats: %d %v %s", st, err, b)
	}
}
