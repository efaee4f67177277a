package ewssim

import (
	"net/http"
	"testing"
	"time"
)

func TestImpersonationAndDelegateRights(t *testing.T) {
	_, s := start(t, Options{Accounts: []Account{
		{User: "svc-all", Password: "pw-all", Impersonation: ImpersonateAll},
		{User: "svc-scoped", Password: "pw-scoped", Impersonation: ImpersonateScope, Scope: []string{room1}},
		{User: "svc-delegate", Password: "pw-delegate", Delegate: map[string]string{room1: RightReviewer}},
	}})
	all := ntlmClient(t, s, `CONTOSO\svc-all`, "pw-all")
	scoped := ntlmClient(t, s, `CONTOSO\svc-scoped`, "pw-scoped")
	deleg := ntlmClient(t, s, `CONTOSO\svc-delegate`, "pw-delegate")
	from, to := t0, t0.Add(24*time.Hour)

	if _, n := all.call(impersonate("nobody@contoso.example"), syncOp("", 1)); faultCode(n) != "ErrorNonExistentMailbox" {
		t.Fatalf("impersonating a missing mailbox: %q", faultCode(n))
	}
	if _, n := scoped.call(impersonate(room1), syncOp("", 1)); code(msgs(n)[0]) != "NoError" {
		t.Fatalf("scoped account in its scope: %s", code(msgs(n)[0]))
	}
	status, n := scoped.call(impersonate(room2), syncOp("", 1))
	if status != http.StatusInternalServerError || faultCode(n) != "ErrorImpersonateUserDenied" {
		t.Fatalf("scoped account outside its scope: status %d, %q", status, faultCode(n))
	}
	if _, n := deleg.call(impersonate(room1), syncOp("", 1)); faultCode(n) != "ErrorImpersonateUserDenied" {
		t.Fatalf("delegate impersonating: %q", faultCode(n))
	}
	// Delegate access: explicit Mailbox on the folder, no impersonation header.
	if _, n := deleg.call("", calendarViewOp(calendarFolder(room1), from, to, 0)); code(msgs(n)[0]) != "NoError" {
		t.Fatalf("delegate with Reviewer: %s", code(msgs(n)[0]))
	}
	if _, n := deleg.call("", calendarViewOp(calendarFolder(room2), from, to, 0)); code(msgs(n)[0]) != "ErrorAccessDenied" {
		t.Fatalf("delegate without rights: %s", code(msgs(n)[0]))
	}
	if _, n := deleg.call("", calendarViewOp(calendarFolder("ghost@contoso.example"), from, to, 0)); code(msgs(n)[0]) != "ErrorNonExistentMailbox" {
		t.Fatalf("delegate on a missing mailbox: %s", code(msgs(n)[0]))
	}
	if _, n := deleg.call("", calendarViewOp(calendarFolder(""), from, to, 0)); code(msgs(n)[0]) != "ErrorMissingEmailAddress" {
		t.Fatalf("no mailbox at all: %s", code(msgs(n)[0]))
	}
	// Grant and revoke at run time.
	if err := s.GrantDelegate("svc-delegate", room2, RightFullAccess); err != nil {
		t.Fatal(err)
	}
	if _, n := deleg.call("", calendarViewOp(calendarFolder(room2), from, to, 0)); code(msgs(n)[0]) != "NoError" {
		t.Fatalf("after FullAccess grant: %s", code(msgs(n)[0]))
	}
	if err := s.GrantDelegate("svc-delegate", room1, ""); err != nil {
		t.Fatal(err)
	}
	if _, n := deleg.call("", calendarViewOp(calendarFolder(room1), from, to, 0)); code(msgs(n)[0]) != "ErrorAccessDenied" {
		t.Fatalf("after revoke: %s", code(msgs(n)[0]))
	}
	if err := s.SetImpersonation("svc-scoped", ImpersonateScope, []string{room1, room2}); err != nil {
		t.Fatal(err)
	}
	if _, n := scoped.call(impersonate(room2), syncOp("", 1)); code(msgs(n)[0]) != "NoError" {
		t.Fatalf("after widening the scope: %s", code(msgs(n)[0]))
	}
}

func TestRequestServerVersion(t *testing.T) {
	_, s := start(t, Options{})
	c := defaultClient(t, s)
	for ver, want := range map[string]string{"Exchange2016": "", "Exchange2013_SP1": "", "Exchange2019": "ErrorInvalidRequest", "V2018_01_08": "ErrorInvalidServerVersion"} {
		env := `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="` + nsTypes + `" xmlns:m="` + nsMessages +
			`"><soap:Header><t:RequestServerVersion Version="` + ver + `"/>` + impersonate(room1) + `</soap:Header><soap:Body>` + syncOp("", 1) + `</soap:Body></soap:Envelope>`
		status, _, b := c.post(s.EWSURL(), env)
		if want == "" && status != http.StatusOK {
			t.Fatalf("%s: status %d", ver, status)
		}
		if want != "" && (status != http.StatusInternalServerError || !containsStr(string(b), want)) {
			t.Fatalf("%s: status %d, body %s", ver, status, b)
		}
		if want == "" && !containsStr(string(b), `MajorVersion="15" MinorVersion="2"`) {
			t.Fatalf("%s: no Exchange 2019 ServerVersionInfo in %s", ver, b)
		}
	}
}
