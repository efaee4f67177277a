package poly

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/simulators/polysim"
	"github.com/otj-edge/otj-edge/store"
)

// TestWrongPassword: a wrong password gets 401 with a Basic challenge, the endpoint shows
// ERR_AUTHENTICATION, and the agent records an auth-failure event, the endpoint's state and a
// health warning; the right password clears it.
func TestWrongPassword(t *testing.T) {
	f := newFixture(t)
	svc := f.start()
	fl := f.fleet(svc, nil)
	ep := fl.Endpoint("poly-a")
	ep.SetFaults(polysim.Faults{WrongPassword: true})

	err := ep.PollNow(t.Context())
	require.Error(t, err)
	assert.Equal(t, polysim.StateAuthError, ep.Status().State)
	assert.Equal(t, 401, ep.Requests()[0].Status)

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+svc.Addr()+"/EWS/Exchange.asmx", strings.NewReader(envelope("")))
	req.SetBasicAuth(userA, "nope")
	resp, err := f.client("").Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, `Basic realm="otj-edge"`, resp.Header.Get("WWW-Authenticate"))

	evs := events(t, f.st, "poly-a")
	require.Equal(t, []string{"ews.auth_failed"}, kinds(evs), "one event per source per minute, not one per attempt")
	assert.Equal(t, "warn", evs[0].Level)
	assert.Equal(t, roomA, evs[0].Room)
	assert.Equal(t, "127.0.0.1", evs[0].Data["source"])
	assert.NotContains(t, evs[0].Message, passA)
	row, _, err := f.st.Endpoint(t.Context(), "poly-a")
	require.NoError(t, err)
	assert.Equal(t, store.EndpointAuthFailed, row.State)
	assert.Equal(t, health.Warning, healthOf(f.health, "poly/poly-a").Level)
	assert.Contains(t, healthOf(f.health, "poly/poly-a").Message, "calendar password")

	// An unknown user name is an event without an endpoint.
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+svc.Addr()+"/EWS/Exchange.asmx", strings.NewReader(envelope("")))
	req.SetBasicAuth("nobody", "x")
	resp, err = f.client("127.0.0.3").Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	all := events(t, f.st, "")
	assert.Equal(t, "ews.auth_failed", all[len(all)-1].Kind)
	assert.Equal(t, "", all[len(all)-1].Endpoint)

	ep.SetFaults(polysim.Faults{})
	f.clk.Advance(time.Minute)
	require.NoError(t, ep.PollNow(t.Context()))
	row, _, _ = f.st.Endpoint(t.Context(), "poly-a")
	assert.Equal(t, store.EndpointUp, row.State)
	assert.Equal(t, health.OK, healthOf(f.health, "poly/poly-a").Level)
}

// TestOtherRoomIsAccessDenied: the right password for room A asking for room B's (or an
// unconfigured room C's) calendar gets ErrorAccessDenied, by mailbox, by folder id and by
// impersonation; B's items are not found; ResolveNames does not reveal B.
func TestOtherRoomIsAccessDenied(t *testing.T) {
	f := newFixture(t)
	svc := f.start()
	c := f.client("")
	for _, mb := range []string{roomB, roomC, "ROOM-B@contoso.example"} {
		status, body := soap(t, c, svc, userA, passA, `<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>`+
			`<t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>`+mb+`</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:FolderIds></m:GetFolder>`)
		assert.Equal(t, 200, status)
		assert.Equal(t, []string{"ErrorAccessDenied"}, responseCodes(t, body), mb)

		_, body = soap(t, c, svc, userA, passA, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>`+
			`<m:CalendarView StartDate="2025-05-04T00:00:00Z" EndDate="2025-05-12T00:00:00Z"/><m:ParentFolderIds>`+
			`<t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>`+mb+`</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:ParentFolderIds></m:FindItem>`)
		assert.Equal(t, []string{"ErrorAccessDenied"}, responseCodes(t, body), mb)
		assert.NotContains(t, body, "Board meeting")
		assert.NotContains(t, body, "Room C only")
	}
	// B's folder id, learnt somehow, is no way in either.
	_, body := soap(t, c, svc, userA, passA, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>`+
		`<m:ParentFolderIds><t:FolderId Id="`+folderID(roomB)+`"/></m:ParentFolderIds></m:FindItem>`)
	assert.Equal(t, []string{"ErrorAccessDenied"}, responseCodes(t, body))
	// Nor is impersonating B.
	_, body = post(t, c, svc, "/EWS/Exchange.asmx", userA, passA, `<soap:Envelope xmlns:soap="`+nsSOAP+`" xmlns:m="`+nsMsgs+`" xmlns:t="`+nsTypes+`">`+
		`<soap:Header><t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>`+roomB+`</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></soap:Header>`+
		`<soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder></soap:Body></soap:Envelope>`)
	assert.Equal(t, []string{"ErrorAccessDenied"}, responseCodes(t, body))
	// Nor is asking for B's item by id.
	_, body = soap(t, c, svc, userA, passA, `<m:GetItem><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:ItemIds>`+
		`<t:ItemId Id="`+itemID(roomB, "board-20250505T0900")+`"/><t:ItemId Id="`+itemID(roomA, "weekly-sync-20250505T0900")+`"/></m:ItemIds></m:GetItem>`)
	assert.Equal(t, []string{"ErrorItemNotFound", "NoError"}, responseCodes(t, body))
	assert.NotContains(t, body, "Board meeting")
	_, body = soap(t, c, svc, userA, passA, `<m:ResolveNames ReturnFullContactData="false"><m:UnresolvedEntry>`+roomB+`</m:UnresolvedEntry></m:ResolveNames>`)
	assert.Equal(t, []string{"ErrorNameResolutionNoResults"}, responseCodes(t, body))
	// Autodiscover answers only for the caller's own room.
	_, body = post(t, c, svc, "/autodiscover/autodiscover.xml", userA, passA, `<Autodiscover xmlns="`+nsAutodiscoverReq+`"><Request><EMailAddress>`+roomB+`</EMailAddress>`+
		`<AcceptableResponseSchema>`+nsOutlookResp+`</AcceptableResponseSchema></Request></Autodiscover>`)
	assert.Contains(t, body, "<ErrorCode>500</ErrorCode>")
	assert.NotContains(t, body, "EwsUrl")
}

// TestHostileRequests: malformed SOAP, an entity bomb, an external entity, deep nesting, a
// wrong namespace, an unknown operation and 50 MB bodies (with and without Content-Length)
// each get a fault or 413, and the service keeps serving.
func TestHostileRequests(t *testing.T) {
	f := newFixture(t)
	f.opts.Capture = true
	var logs bytes.Buffer
	f.opts.Logger = newLockedLogger(&logs)
	svc := f.start()
	fl := f.fleet(svc, nil)
	ep := fl.Endpoint("poly-a")
	want := map[string]struct {
		status int
		fault  string
		code   string
	}{
		"malformed":         {500, "s:Client", "ErrorSchemaValidation"},
		"not_xml":           {500, "s:Client", "ErrorSchemaValidation"},
		"entity_bomb":       {500, "s:Client", "ErrorSchemaValidation"},
		"external_entity":   {500, "s:Client", "ErrorSchemaValidation"},
		"deep":              {500, "s:Client", "ErrorSchemaValidation"},
		"wrong_namespace":   {500, "s:VersionMismatch", "ErrorSchemaValidation"}, // https:// envelope namespace
		"unknown_operation": {500, "s:Client", "ErrorInvalidOperation"},
		"oversize":          {413, "", ""},
		"oversize_chunked":  {413, "", ""},
	}
	require.Len(t, want, len(polysim.JunkKinds))
	for _, kind := range polysim.JunkKinds {
		res, err := ep.SendJunk(t.Context(), kind)
		require.NoError(t, err)
		assert.Equal(t, want[kind].status, res.Status, "%s: %+v", kind, res)
		assert.Equal(t, want[kind].code, res.ResponseCode, kind)
		assert.Equal(t, want[kind].fault, res.FaultCode, kind)
		switch kind {
		case "entity_bomb", "external_entity":
			assert.Contains(t, res.FaultString, "DTD", "refused for its DTD, before any entity exists")
		case "deep":
			assert.Contains(t, res.FaultString, "deeper than 32")
		}
		if strings.HasPrefix(kind, "oversize") {
			assert.Less(t, res.BytesSent, int64(50<<20), "%s: the server stops reading long before 50 MB", kind)
		}
		require.NoError(t, ep.PollNow(t.Context()), "still serving after %s", kind)
		assert.Len(t, ep.Meetings(), 4)
	}
	// Capture mode logged the refused requests without the credential.
	out := logText(&logs)
	assert.Contains(t, out, "SyncFolderItems")
	assert.Contains(t, out, "Basic [redacted]")
	assert.NotContains(t, out, passA)
}

// TestUntrustedCertificateIsExplained: an endpoint that does not trust the certificate fails
// the TLS handshake; the agent says what that probably means, once per address.
func TestUntrustedCertificateIsExplained(t *testing.T) {
	f := newFixture(t)
	var logs bytes.Buffer
	f.opts.Logger = newLockedLogger(&logs)
	svc := f.start()
	for range 3 {
		_, err := http.Get("https://" + svc.Addr() + "/EWS/Exchange.asmx") // system roots: not our CA
		require.Error(t, err)
	}
	status, _ := soap(t, f.client(""), svc, userA, passA, `<m:ResolveNames><m:UnresolvedEntry>room-a</m:UnresolvedEntry></m:ResolveNames>`)
	require.Equal(t, 200, status)
	out := logText(&logs)
	assert.Equal(t, 1, strings.Count(out, "probably does not trust the calendar service's certificate"), out)
}

// TestUnauthenticatedBodiesAreNotRead: without a credential nothing is parsed; a 50 MB body is
// answered 401 at once.
func TestUnauthenticatedBodiesAreNotRead(t *testing.T) {
	f := newFixture(t)
	svc := f.start()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+svc.Addr()+"/EWS/Exchange.asmx",
		io.LimitReader(zeros{}, 50<<20))
	req.ContentLength = 50 << 20
	resp, err := f.client("").Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	// Other paths are not there at all; GET with a credential says who you are.
	status, _ := post(t, f.client(""), svc, "/owa/", userA, passA, "")
	assert.Equal(t, 404, status)
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+svc.Addr()+"/ews/EXCHANGE.asmx", nil)
	req.SetBasicAuth(userA, passA)
	resp, err = f.client("").Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, string(b), "signed in as poly-a for "+roomA)
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

// TestFailedLoginsSlowedPerSource: after a few failures an address is refused (429 with
// Retry-After) without any password being checked, even the right one, while an endpoint at
// another address logs in as usual; the block lifts with time.
func TestFailedLoginsSlowedPerSource(t *testing.T) {
	f := newFixture(t)
	svc := f.start()
	attacker, endpoint := f.client("127.0.0.2"), f.client("127.0.0.1")
	resolve := `<m:ResolveNames ReturnFullContactData="false"><m:UnresolvedEntry>room-a</m:UnresolvedEntry></m:ResolveNames>`
	for i := range freeFailures {
		status, _ := soap(t, attacker, svc, userA, "guess"+string(rune('a'+i)), resolve)
		require.Equal(t, 401, status, "free failure %d", i+1)
	}
	status, _ := soap(t, attacker, svc, userA, "guess-again", resolve)
	require.Equal(t, 401, status, "the failure that starts the block is still answered")
	status, _ = soap(t, attacker, svc, userA, passA, resolve)
	assert.Equal(t, 429, status, "blocked: even the right password is not checked")

	status, _ = soap(t, endpoint, svc, userA, passA, resolve)
	assert.Equal(t, 200, status, "another address is not affected")

	f.clk.Advance(firstBlock + time.Second)
	status, _ = soap(t, attacker, svc, userA, passA, resolve)
	assert.Equal(t, 200, status, "the block lifts")
}

func TestThrottleBacksOffAndForgets(t *testing.T) {
	th := newThrottle()
	src := sourceKey("10.1.2.3:5555")
	now := t0
	var until time.Time
	for range freeFailures {
		_, _, until = th.failure(src, now)
		assert.True(t, until.IsZero())
	}
	blocks := []time.Duration{}
	for range 12 {
		_, _, until = th.failure(src, now)
		blocks = append(blocks, until.Sub(now))
	}
	assert.Equal(t, []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second,
		64 * time.Second, 128 * time.Second, 256 * time.Second, maxBlock, maxBlock, maxBlock, maxBlock}, blocks)
	_, blocked := th.blocked(src, now.Add(maxBlock-time.Second))
	assert.True(t, blocked)
	_, blocked = th.blocked(sourceKey("10.1.2.4:1"), now)
	assert.False(t, blocked, "other addresses are free")
	// A /64 is one source.
	assert.Equal(t, sourceKey("[2001:db8::1]:443"), sourceKey("[2001:db8::ffff:1]:443"))
	// After a quiet spell the count starts over.
	_, _, until = th.failure(src, now.Add(failureMemory+maxBlock+time.Minute))
	assert.True(t, until.IsZero())
}

var _ = context.Background
