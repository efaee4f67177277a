package ewssim

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func subscribeOp(mailbox string) string {
	return `<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds>` + calendarFolder(mailbox) + `</t:FolderIds><t:EventTypes>` +
		`<t:EventType>CreatedEvent</t:EventType><t:EventType>ModifiedEvent</t:EventType><t:EventType>DeletedEvent</t:EventType>` +
		`</t:EventTypes></m:StreamingSubscriptionRequest></m:Subscribe>`
}

func streamOp(minutes int, ids ...string) string {
	s := `<m:GetStreamingEvents><m:SubscriptionIds>`
	for _, id := range ids {
		s += `<t:SubscriptionId>` + id + `</t:SubscriptionId>`
	}
	return s + `</m:SubscriptionIds><m:ConnectionTimeout>` + itoa(minutes) + `</m:ConnectionTimeout></m:GetStreamingEvents>`
}

func subscribe(t *testing.T, c *client, mailbox string) string {
	t.Helper()
	_, n := c.call(impersonate(mailbox), subscribeOp(""))
	m := msgs(n)[0]
	if code(m) != "NoError" || m.child("SubscriptionId").text() == "" {
		t.Fatalf("Subscribe %s: %s", mailbox, code(m))
	}
	return m.child("SubscriptionId").text()
}

// openStream starts GetStreamingEvents and delivers each envelope's ResponseMessage; the
// channel closes when the response ends (err says how).
func openStream(t *testing.T, c *client, mailbox, body string) (<-chan *node, *error) {
	t.Helper()
	env := `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" ` +
		`xmlns:t="` + nsTypes + `" xmlns:m="` + nsMessages + `"><soap:Header><t:RequestServerVersion Version="Exchange2013_SP1"/>` +
		impersonate(mailbox) + `</soap:Header><soap:Body>` + body + `</soap:Body></soap:Envelope>`
	req, _ := http.NewRequest(http.MethodPost, c.s.EWSURL(), strings.NewReader(env))
	req.SetBasicAuth(c.user, c.pass)
	for k, v := range c.headers {
		req.Header[k] = v
	}
	hc := &http.Client{Transport: c.http.Transport} // no overall timeout: the response is long-lived
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan *node, 100)
	var end error
	go func() {
		defer close(out)
		defer resp.Body.Close()
		dec := xml.NewDecoder(resp.Body)
		for {
			var n node
			if err := dec.Decode(&n); err != nil {
				if !errors.Is(err, io.EOF) {
					end = err
				}
				return
			}
			out <- msgs(&n)[0]
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return out, &end
}

func next(t *testing.T, ch <-chan *node) *node {
	t.Helper()
	select {
	case n, ok := <-ch:
		if !ok {
			t.Fatal("stream ended")
		}
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no message on the stream within 10 s")
	}
	return nil
}

func TestStreamingDeliversChangesKeepalivesAndCloses(t *testing.T) {
	gs, s := start(t, Options{KeepAlive: 50 * time.Millisecond, StreamMinute: 2 * time.Second, WatchInterval: time.Hour})
	c := defaultClient(t, s)
	id := subscribe(t, c, room1)
	ch, _ := openStream(t, c, room1, streamOp(1, id))
	if m := next(t, ch); m.child("ConnectionStatus").text() != "OK" {
		t.Fatalf("first message: %v", code(m))
	}
	stored, _ := gs.StoredItems(room1)
	if _, err := gs.PatchEvent(room1, stored[0].ID, map[string]any{"subject": "Edited"}); err != nil {
		t.Fatal(err)
	}
	s.Poke()
	for {
		m := next(t, ch)
		if m.child("ConnectionStatus").text() == "OK" {
			continue // keepalive
		}
		ev := m.path("Notifications", "Notification", "ModifiedEvent")
		if ev == nil || m.path("Notifications", "Notification", "SubscriptionId").text() != id {
			t.Fatalf("want a ModifiedEvent for %s", id)
		}
		if _, gid, _ := decodeItemID(ev.child("ItemId").attr("Id")); gid != stored[0].ID {
			t.Fatalf("ModifiedEvent for %s, want %s", gid, stored[0].ID)
		}
		break
	}
	if st := s.Stats(); st.Notifications != 1 || st.Mailboxes[room1].Notifications != 1 {
		t.Fatalf("notifications counted %d", st.Notifications)
	}
	// ConnectionTimeout 1 "minute" (2 s here): Closed, then the response ends.
	for {
		m, ok := <-ch
		if !ok {
			t.Fatal("the stream ended without ConnectionStatus Closed")
		}
		if m.child("ConnectionStatus").text() == "Closed" {
			break
		}
	}
	if _, ok := <-ch; ok {
		t.Fatal("messages after Closed")
	}
}

func TestStreamingDropAndExpiry(t *testing.T) {
	var now atomic.Int64
	now.Store(t0.UnixNano())
	_, s := start(t, Options{Now: func() time.Time { return time.Unix(0, now.Load()) }, WatchInterval: time.Hour})
	c := defaultClient(t, s)
	id := subscribe(t, c, room1)
	ch, end := openStream(t, c, room1, streamOp(30, id))
	next(t, ch)
	if n := s.DropStreams(room1); n != 1 {
		t.Fatalf("dropped %d streams", n)
	}
	for range ch {
	}
	if *end == nil {
		t.Fatal("a dropped stream ended cleanly; want the connection cut")
	}
	// Not read for longer than the subscription lifetime: gone.
	now.Add(int64(DefaultSubscriptionTTL + time.Minute))
	_, n := c.call(impersonate(room1), streamOp(1, id))
	m := msgs(n)[0]
	if code(m) != "ErrorSubscriptionNotFound" || m.path("ErrorSubscriptionIds", "SubscriptionId").text() != id {
		t.Fatalf("expired subscription: %s", code(m))
	}
	if _, n := c.call(impersonate(room1), `<m:Unsubscribe><m:SubscriptionId>`+id+`</m:SubscriptionId></m:Unsubscribe>`); code(msgs(n)[0]) != "ErrorSubscriptionNotFound" {
		t.Fatalf("unsubscribe of an expired subscription: %s", code(msgs(n)[0]))
	}
}

func TestSubscribeRules(t *testing.T) {
	_, s := start(t, Options{Accounts: []Account{
		{User: DefaultUser, Password: DefaultPassword, Impersonation: ImpersonateAll},
		{User: "svc-delegate", Password: "pw", Delegate: map[string]string{room1: RightFullAccess}},
	}, HangingConnectionLimit: 1, RequireAffinity: true})
	deleg := ntlmClient(t, s, `CONTOSO\svc-delegate`, "pw")
	if _, n := deleg.call("", subscribeOp(room1)); code(msgs(n)[0]) != "ErrorSubscriptionDelegateAccessNotSupported" {
		t.Fatalf("delegate subscribe: %s", code(msgs(n)[0]))
	}
	c := defaultClient(t, s)
	if _, n := c.call(impersonate(room1), subscribeOp(room2)); code(msgs(n)[0]) != "ErrorInvalidSubscriptionRequest" {
		t.Fatalf("subscribe to another mailbox than the impersonated one: %s", code(msgs(n)[0]))
	}
	// Affinity: the first Subscribe asks for it and gets the cookie; without it the stream
	// finds no subscription.
	c.headers.Set("X-AnchorMailbox", room1)
	c.headers.Set("X-PreferServerAffinity", "true")
	_, h, b := c.post(s.EWSURL(), `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="`+nsTypes+
		`" xmlns:m="`+nsMessages+`"><soap:Header>`+impersonate(room1)+`</soap:Header><soap:Body>`+subscribeOp("")+`</soap:Body></soap:Envelope>`)
	var cookie *http.Cookie
	for _, ck := range (&http.Response{Header: h}).Cookies() {
		if ck.Name == affinityCookie {
			cookie = ck
		}
	}
	if cookie == nil {
		t.Fatalf("no %s cookie on a Subscribe with X-PreferServerAffinity", affinityCookie)
	}
	var env node
	_ = xml.Unmarshal(b, &env)
	id := msgs(&env)[0].child("SubscriptionId").text()
	c.headers.Del("Cookie")
	if _, n := c.call(impersonate(room1), streamOp(1, id)); code(msgs(n)[0]) != "ErrorSubscriptionNotFound" {
		t.Fatalf("stream without the affinity cookie: %s", code(msgs(n)[0]))
	}
	c.headers.Set("Cookie", cookie.Name+"="+cookie.Value)
	ch, _ := openStreamWithCookie(t, c, room1, streamOp(1, id), cookie)
	if m := next(t, ch); m.child("ConnectionStatus").text() != "OK" {
		t.Fatalf("stream with the cookie: %s", code(m))
	}
	// HangingConnectionLimit 1: a second stream for the account is refused.
	if _, n := c.call(impersonate(room1), streamOp(1, id)); code(msgs(n)[0]) != "ErrorExceededConnectionCount" {
		t.Fatalf("second stream over the limit: %s", code(msgs(n)[0]))
	}
}

func openStreamWithCookie(t *testing.T, c *client, mailbox, body string, ck *http.Cookie) (<-chan *node, *error) {
	t.Helper()
	// openStream builds its own request; the cookie travels in a copy of the client's headers.
	c2 := *c
	c2.headers = c.headers.Clone()
	return openStream(t, &c2, mailbox, body)
}
