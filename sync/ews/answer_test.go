package ews

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// getItemAnswer is a GetItem answer of one item whose subject is subject.
func getItemAnswer(subject string) string {
	return `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="` + nsSOAP + `"><s:Header>` +
		`<h:ServerVersionInfo xmlns:h="` + nsTypes + `" MajorVersion="15" MinorVersion="2" MajorBuildNumber="1544" MinorBuildNumber="4"/></s:Header>` +
		`<s:Body><m:GetItemResponse xmlns:m="` + nsMessages + `" xmlns:t="` + nsTypes + `"><m:ResponseMessages>` +
		`<m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:CalendarItem>` +
		`<t:ItemId Id="AAMk=" ChangeKey="DwAA"/><t:Subject>` + subject + `</t:Subject>` +
		`<t:Body BodyType="HTML">&lt;p&gt;Join&lt;/p&gt;</t:Body><t:Start>2026-11-23T10:00:00Z</t:Start><t:End>2026-11-23T11:00:00Z</t:End>` +
		`<t:RequiredAttendees><t:Attendee><t:Mailbox><t:Name>Ada</t:Name><t:EmailAddress>ada@contoso.example</t:EmailAddress></t:Mailbox>` +
		`<t:ResponseType>Accept</t:ResponseType></t:Attendee></t:RequiredAttendees>` +
		`</t:CalendarItem></m:Items></m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse></s:Body></s:Envelope>`
}

// FuzzAnswerDecodesAsTheWholeAnswer: an answer decoded as it arrives (through answerReader,
// in pieces of any size) decodes to exactly what the whole answer, read at once and cleaned
// of control characters, decoded to before, and fails with the same error.
func FuzzAnswerDecodesAsTheWholeAnswer(f *testing.F) {
	f.Add([]byte(getItemAnswer("Board")))
	f.Add([]byte(getItemAnswer("Board\x01\x0b review\x1f")))
	f.Add([]byte(getItemAnswer("Board")[:300]))
	f.Add([]byte(`<s:Envelope xmlns:s="` + nsSOAP + `"><s:Body><s:Fault><faultcode>a:ErrorServerBusy</faultcode></s:Fault></s:Body></s:Envelope>`))
	f.Add([]byte("<html><body>Service Unavailable</body></html>"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		var whole, streamed envelope[getItemResponse]
		werr := xml.Unmarshal(sanitize(bytes.Clone(b)), &whole)
		for name, r := range map[string]io.Reader{"whole": bytes.NewReader(b), "halves": iotest.HalfReader(bytes.NewReader(b)),
			"bytes": iotest.OneByteReader(bytes.NewReader(b))} {
			streamed = envelope[getItemResponse]{}
			a := newAnswerReader(r, int64(len(b))) // exactly the answer's size is within the limit
			serr := xml.NewDecoder(a).Decode(&streamed)
			require.NoError(t, a.err, name)
			if werr == nil {
				require.NoError(t, serr, name)
			} else {
				require.EqualError(t, serr, werr.Error(), name)
			}
			require.Equal(t, whole, streamed, name)
		}
	})
}

// A control character inside an item's text (Exchange has sent them) is dropped, not a
// failure of the whole answer.
func TestAnswerWithControlCharactersDecodesWithoutThem(t *testing.T) {
	var env envelope[getItemResponse]
	require.NoError(t, xml.NewDecoder(newAnswerReader(strings.NewReader(getItemAnswer("Board\x01 review\x0b")), maxAnswer)).Decode(&env))
	require.Len(t, env.Body.Resp.Messages, 1)
	require.Len(t, env.Body.Resp.Messages[0].Items, 1)
	assert.Equal(t, "Board review", env.Body.Resp.Messages[0].Items[0].Subject)
}

// answerServer answers every request with body (a server in front of Exchange answering for it).
func answerServer(t *testing.T, status int, body string) *client {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return &client{url: srv.URL, user: "svc-otj", password: func() string { return "secret" }, auth: AuthBasic,
		access: AccessImpersonation, version: DefaultServerVersion, http: srv.Client()}
}

// An answer larger than the limit is refused with an error that says so (not "not EWS XML"),
// and one within it is read; a garbled answer says it is not EWS XML.
func TestAnswerOverTheLimitIsRefusedSayingItIsTooLarge(t *testing.T) {
	answer := getItemAnswer(strings.Repeat("x", 4000))
	refs := []getRef{{id: "AAMk="}}

	c := answerServer(t, http.StatusOK, answer)
	c.maxAnswer = int64(len(answer))
	got, err := c.getItems(context.Background(), "room-1@contoso.example", refs)
	require.NoError(t, err, "an answer of exactly the limit")
	require.Len(t, got, 1)
	assert.Equal(t, strings.Repeat("x", 4000), got[0].item.Subject)

	c.maxAnswer = 2048
	_, err = c.getItems(context.Background(), "room-1@contoso.example", refs)
	var e *ewsError
	require.True(t, errors.As(err, &e), "%v", err)
	assert.Equal(t, "garbage", e.code)
	assert.Equal(t, "EWS GetItem: garbage: the answer is larger than 2048 bytes, far more than an answer to this request holds "+
		"(is a proxy in front of Exchange answering instead of it?)", err.Error())
	assert.Equal(t, "the answer is larger than 64 MiB, far more than an answer to this request holds "+
		"(is a proxy in front of Exchange answering instead of it?)", (&answerTooLargeError{limit: maxAnswer}).Error())

	c = answerServer(t, http.StatusOK, answer[:len(answer)/2])
	_, err = c.getItems(context.Background(), "room-1@contoso.example", refs)
	require.True(t, errors.As(err, &e), "%v", err)
	assert.Equal(t, "garbage", e.code)
	assert.Contains(t, err.Error(), "EWS GetItem: garbage: the answer is not EWS XML: XML syntax error")
}

// A 503 page that is not XML is still Exchange being busy (HTTP 503), whatever its size.
func TestBusyPageIsAnHTTPStatusNotGarbage(t *testing.T) {
	c := answerServer(t, http.StatusServiceUnavailable, "<html><body>"+strings.Repeat("busy ", 1000)+"</body>")
	c.maxAnswer = 1024
	_, err := c.getItems(context.Background(), "room-1@contoso.example", []getRef{{id: "AAMk="}})
	var e *ewsError
	require.True(t, errors.As(err, &e), "%v", err)
	assert.Equal(t, http.StatusServiceUnavailable, e.status)
	assert.Equal(t, "EWS GetItem: HTTP 503", err.Error())
}
