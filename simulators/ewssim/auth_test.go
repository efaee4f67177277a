package ewssim

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestNTLMRightPasswordIs200WrongIs401(t *testing.T) {
	_, s := start(t, Options{})
	for _, user := range []string{DefaultDomain + `\` + DefaultUser, DefaultUser + "@contoso.example", strings.ToLower(DefaultDomain) + `\` + strings.ToUpper(DefaultUser)} {
		c := ntlmClient(t, s, user, DefaultPassword)
		if status, n := c.call(impersonate(room1), syncOp("", 10)); status != http.StatusOK || code(msgs(n)[0]) != "NoError" {
			t.Fatalf("%s with the right password: status %d %s", user, status, code(msgs(n)[0]))
		}
	}
	c := ntlmClient(t, s, DefaultDomain+`\`+DefaultUser, "wrong")
	status, h, _ := c.post(s.EWSURL(), "<x/>")
	if status != http.StatusUnauthorized {
		t.Fatalf("wrong password: status %d, want 401", status)
	}
	if got := h.Values("WWW-Authenticate"); !slices.Equal(got, []string{"Negotiate", "NTLM"}) {
		t.Fatalf("WWW-Authenticate %q, want Negotiate and NTLM", got)
	}
	if st := s.Stats(); st.AuthFailures != 1 || st.EPARefusals != 0 {
		t.Fatalf("auth failures %d, EPA refusals %d; want 1, 0", st.AuthFailures, st.EPARefusals)
	}
	if status, _, _ := ntlmClient(t, s, `OTHERDOM\`+DefaultUser, DefaultPassword).post(s.EWSURL(), "<x/>"); status != http.StatusUnauthorized {
		t.Fatalf("another domain: status %d, want 401", status)
	}
}

func TestNTLMAuthenticatesTheConnection(t *testing.T) {
	_, s := start(t, Options{})
	c := defaultClient(t, s)
	if status, _ := c.call(impersonate(room1), syncOp("", 1)); status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	// The same connection, no credentials at all: IIS keeps the NTLM identity of the connection.
	plain := &client{t: t, s: s, http: &http.Client{Transport: c.http.Transport}, headers: http.Header{}}
	if status, _ := plain.call(impersonate(room1), syncOp("", 1)); status != http.StatusOK {
		t.Fatalf("second request on the authenticated connection: status %d, want 200", status)
	}
	// A fresh connection without credentials is refused.
	fresh := &client{t: t, s: s, http: s.HTTPClient(), headers: http.Header{}}
	if status, _, _ := fresh.post(s.EWSURL(), "<x/>"); status != http.StatusUnauthorized {
		t.Fatalf("new connection without credentials: status %d, want 401", status)
	}
}

func TestExtendedProtectionRefusesNTLMWithoutChannelBinding(t *testing.T) {
	_, s := start(t, Options{ExtendedProtection: true, Basic: true})
	status, h, _ := defaultClient(t, s).post(s.EWSURL(), "<x/>")
	if status != http.StatusUnauthorized {
		t.Fatalf("NTLM without channel binding under Extended Protection: status %d, want 401", status)
	}
	if got := h.Values("WWW-Authenticate"); !slices.Contains(got, "NTLM") || !slices.Contains(got, "Negotiate") {
		t.Fatalf("WWW-Authenticate %q", got)
	}
	if st := s.Stats(); st.EPARefusals != 1 {
		t.Fatalf("EPA refusals %d, want 1", st.EPARefusals)
	}
	// Basic over TLS is one of the ways out.
	c := &client{t: t, s: s, http: s.HTTPClient(), user: DefaultUser + "@contoso.example", pass: DefaultPassword, headers: http.Header{}}
	if status, _ := c.call(impersonate(room1), syncOp("", 1)); status != http.StatusOK {
		t.Fatalf("Basic under Extended Protection: status %d, want 200", status)
	}
	// Switching it off lets the same client in.
	off := false
	s.SetSettings(SettingsPatch{ExtendedProtection: &off})
	if status, _ := defaultClient(t, s).call(impersonate(room1), syncOp("", 1)); status != http.StatusOK {
		t.Fatalf("EPA off: status %d, want 200", status)
	}
}

func TestChannelBindingIsAcceptedUnderExtendedProtection(t *testing.T) {
	_, s := start(t, Options{ExtendedProtection: true})
	var chal [8]byte
	copy(chal[:], "12345678")
	good := ntlmv2Response(DefaultPassword, DefaultUser, DefaultDomain, chal, s.cbt)
	a := ntlmAuth{user: DefaultUser, domain: DefaultDomain, ntResponse: good}
	ok, cbt := a.verify(DefaultPassword, chal)
	if !ok || !equalBytes(cbt, s.cbt) {
		t.Fatalf("a response with the channel binding: ok %v, binding matches %v", ok, equalBytes(cbt, s.cbt))
	}
	if ok, _ := a.verify("wrong", chal); ok {
		t.Fatal("the wrong password verified")
	}
}

func TestBasicAuth(t *testing.T) {
	_, s := start(t, Options{})
	c := &client{t: t, s: s, http: s.HTTPClient(), user: DefaultDomain + `\` + DefaultUser, pass: DefaultPassword, headers: http.Header{}}
	status, h, _ := c.post(s.EWSURL(), "<x/>")
	if status != http.StatusUnauthorized || slices.ContainsFunc(h.Values("WWW-Authenticate"), func(v string) bool { return strings.HasPrefix(v, "Basic") }) {
		t.Fatalf("Basic while off: status %d, WWW-Authenticate %q; want 401 without Basic", status, h.Values("WWW-Authenticate"))
	}
	on := true
	s.SetSettings(SettingsPatch{Basic: &on})
	if status, _ := c.call(impersonate(room1), syncOp("", 1)); status != http.StatusOK {
		t.Fatalf("Basic on: status %d", status)
	}
	c.pass = "nope"
	status, h, _ = c.post(s.EWSURL(), "<x/>")
	if status != http.StatusUnauthorized || !slices.ContainsFunc(h.Values("WWW-Authenticate"), func(v string) bool { return strings.HasPrefix(v, `Basic realm="`) }) {
		t.Fatalf("Basic wrong password: status %d, WWW-Authenticate %q", status, h.Values("WWW-Authenticate"))
	}
}
