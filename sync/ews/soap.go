package ews

import (
	"bytes"
	"cmp"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The SOAP 1.1 client: envelopes with RequestServerVersion and the access model's headers,
// and the answers' response codes, faults and throttling hints read into ewsError.

const (
	nsSOAP     = "http://schemas.xmlsoap.org/soap/envelope/"
	nsTypes    = "http://schemas.microsoft.com/exchange/services/2006/types"
	nsMessages = "http://schemas.microsoft.com/exchange/services/2006/messages"
)

// DefaultServerVersion is what every request asks for: everything the source reads exists
// by Exchange 2013 SP1, and Exchange 2019 refuses "Exchange2019" (research §A5).
const DefaultServerVersion = "Exchange2013_SP1"

// client speaks EWS to one endpoint for one integration.
type client struct {
	url      string
	user     string
	password func() string
	auth     string
	access   string
	version  string
	http     *http.Client
	// admit counts a request against the daily quota, or refuses it (nil: no quota).
	admit func(n int) error
	// slots bounds the requests in flight across rooms (nil: no bound); a streaming
	// connection hangs for minutes and takes none.
	slots chan struct{}
	// subSlots bounds Subscribe/Unsubscribe requests, which take no slot (target.subscription).
	subSlots chan struct{}
	// maxAnswer is the largest answer read (0: maxAnswer, answer.go).
	maxAnswer int64
}

// acquire takes an in-flight slot; release gives it back.
func acquire(ctx context.Context, slots chan struct{}) (release func(), err error) {
	if slots == nil {
		return func() {}, nil
	}
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// target is the mailbox a request is about: with impersonation it goes in the
// ExchangeImpersonation header (and X-AnchorMailbox), as a delegate in the folder id.
type target struct {
	mailbox string
	anchor  string // X-AnchorMailbox when it is not mailbox (subscription groups)
	cookie  string // X-BackEndOverrideCookie of a subscription group
	// gotCookie receives the X-BackEndOverrideCookie the answer sets (subscription groups).
	gotCookie *string
	// subscription marks Subscribe/Unsubscribe of a group: they take no MaxInFlight slot
	// (each group makes one at a time, so they add at most one request per group), so the
	// streams are up while the first sync's reads fill the slots: waiting behind 1,000 rooms'
	// reads, a room read first would miss its changes until a safety-net poll.
	subscription bool
}

// ewsError is a failed EWS call: the HTTP status, the response code (ErrorServerBusy, …) or
// SOAP fault code, its message, and the back-off Exchange asked for.
type ewsError struct {
	op      string
	status  int    // HTTP status (0: no answer)
	code    string // EWS response code or fault code (prefix dropped)
	message string
	backoff time.Duration
	scheme  string // WWW-Authenticate schemes of a 401
	ntlm    bool   // a 401 after a full NTLM handshake
	err     error  // network error
}

func (e *ewsError) Error() string {
	switch {
	case e.err != nil:
		return fmt.Sprintf("EWS %s: %v", e.op, e.err)
	case e.code != "":
		return fmt.Sprintf("EWS %s: %s: %s", e.op, e.code, oneLine(e.message))
	}
	return fmt.Sprintf("EWS %s: HTTP %d", e.op, e.status)
}

func (e *ewsError) Unwrap() error { return e.err }

// serverVersion is the ServerVersionInfo header.
type serverVersion struct {
	Major   string `xml:"MajorVersion,attr"`
	Minor   string `xml:"MinorVersion,attr"`
	Build   string `xml:"MajorBuildNumber,attr"`
	Rev     string `xml:"MinorBuildNumber,attr"`
	Version string `xml:"Version,attr"`
}

func (v serverVersion) String() string {
	if v.Major == "" {
		return "unknown"
	}
	s := fmt.Sprintf("%s.%s.%s.%s", v.Major, v.Minor, v.Build, v.Rev)
	if v.Version != "" {
		s += " (" + v.Version + ")"
	}
	return s
}

// responseMessage is what every ResponseMessage carries.
type responseMessage struct {
	Class      string `xml:"ResponseClass,attr"`
	Text       string `xml:"MessageText"`
	Code       string `xml:"ResponseCode"`
	MessageXML struct {
		Values []struct {
			Name  string `xml:"Name,attr"`
			Value string `xml:",chardata"`
		} `xml:"Value"`
	} `xml:"MessageXml"`
}

func (m responseMessage) failed() bool {
	return m.Code != "" && m.Code != "NoError"
}

func (m responseMessage) err(op string) *ewsError {
	e := &ewsError{op: op, code: m.Code, message: m.Text}
	e.backoff = backoffOf(m.MessageXML.Values)
	return e
}

func backoffOf(values []struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:",chardata"`
}) time.Duration {
	for _, v := range values {
		if v.Name == "BackOffMilliseconds" {
			if ms, err := strconv.ParseInt(strings.TrimSpace(v.Value), 10, 64); err == nil && ms > 0 {
				return time.Duration(ms) * time.Millisecond
			}
		}
	}
	return 0
}

// soapFault is a request-level failure (HTTP 500).
type soapFault struct {
	Code   string `xml:"faultcode"`
	String string `xml:"faultstring"`
	Detail struct {
		Code       string `xml:"ResponseCode"`
		Message    string `xml:"Message"`
		MessageXML struct {
			Values []struct {
				Name  string `xml:"Name,attr"`
				Value string `xml:",chardata"`
			} `xml:"Value"`
		} `xml:"MessageXml"`
	} `xml:"detail"`
}

// envelope is an answer; Body.Resp takes the operation's response element.
type envelope[T any] struct {
	Header struct {
		Version serverVersion `xml:"ServerVersionInfo"`
	} `xml:"Header"`
	Body struct {
		Fault *soapFault `xml:"Fault"`
		Resp  T          `xml:",any"`
	} `xml:"Body"`
}

// call sends one operation (body is the element inside soap:Body) and decodes the answer into
// out's envelope. It returns the server version header.
func call[T any](ctx context.Context, c *client, op string, tg target, body string) (T, serverVersion, error) {
	var zero T
	slots := c.slots
	if tg.subscription {
		slots = c.subSlots
	}
	release, err := acquire(ctx, slots)
	if err != nil {
		return zero, serverVersion{}, &ewsError{op: op, err: err}
	}
	defer release()
	resp, err := c.send(ctx, op, tg, body)
	if err != nil {
		return zero, serverVersion{}, err
	}
	defer resp.Body.Close()
	answer := newAnswerReader(resp.Body, cmp.Or(c.maxAnswer, maxAnswer))
	var env envelope[T]
	perr := xml.NewDecoder(answer).Decode(&env)
	if answer.err != nil {
		return zero, serverVersion{}, &ewsError{op: op, err: fmt.Errorf("read the answer: %w", answer.err)}
	}
	// What follows the envelope (whitespace) is read too, so the connection serves the next
	// request (an NTLM connection would otherwise need a new handshake).
	_, _ = io.Copy(io.Discard, answer)
	if f := env.Body.Fault; perr == nil && f != nil {
		e := &ewsError{op: op, status: resp.StatusCode, code: f.Detail.Code, message: firstNonEmpty(f.Detail.Message, f.String)}
		if e.code == "" {
			e.code = faultCode(f.Code)
		}
		e.backoff = backoffOf(f.Detail.MessageXML.Values)
		return zero, env.Header.Version, e
	}
	if resp.StatusCode != http.StatusOK {
		return zero, env.Header.Version, &ewsError{op: op, status: resp.StatusCode, message: http.StatusText(resp.StatusCode)}
	}
	if big := (*answerTooLargeError)(nil); errors.As(perr, &big) {
		return zero, env.Header.Version, &ewsError{op: op, status: resp.StatusCode, code: "garbage", message: perr.Error()}
	}
	if perr != nil {
		return zero, env.Header.Version, &ewsError{op: op, status: resp.StatusCode, code: "garbage", message: "the answer is not EWS XML: " + perr.Error()}
	}
	return env.Body.Resp, env.Header.Version, nil
}

// faultCode drops the namespace prefix of a SOAP fault code ("a:ErrorServerBusy").
func faultCode(s string) string {
	if _, after, ok := strings.Cut(s, ":"); ok {
		return strings.TrimSpace(after)
	}
	return strings.TrimSpace(s)
}

// send posts an envelope and returns the HTTP answer (any status); a 401 and network
// failures come back as ewsError.
func (c *client) send(ctx context.Context, op string, tg target, body string) (*http.Response, error) {
	if c.auth == AuthBasic && !strings.HasPrefix(strings.ToLower(c.url), "https://") {
		return nil, &ewsError{op: op, code: "basic_over_http", message: "auth basic sends the password in clear: the EWS URL must be https://"}
	}
	env := c.envelope(tg, body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, strings.NewReader(env))
	if err != nil {
		return nil, &ewsError{op: op, err: err}
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("Accept", "text/xml")
	req.Header.Set("SOAPAction", `"http://schemas.microsoft.com/exchange/services/2006/messages/`+op+`"`)
	if anchor := firstNonEmpty(tg.anchor, tg.mailbox); anchor != "" && c.access == AccessImpersonation {
		// Without it Exchange proxies impersonated calls, slower and with 500/503s (§A2).
		req.Header.Set("X-AnchorMailbox", anchor)
	}
	if tg.anchor != "" {
		req.Header.Set("X-PreferServerAffinity", "true")
	}
	if tg.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "X-BackEndOverrideCookie", Value: tg.cookie})
	}
	req.SetBasicAuth(c.user, c.password())
	if c.admit != nil {
		if err := c.admit(1); err != nil {
			return nil, &ewsError{op: op, code: "budget", message: err.Error(), err: err}
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &ewsError{op: op, err: err}
	}
	if tg.gotCookie != nil {
		for _, ck := range resp.Cookies() {
			if ck.Name == "X-BackEndOverrideCookie" {
				*tg.gotCookie = ck.Value
			}
		}
	}
	if resp.StatusCode == http.StatusUnauthorized {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		e := &ewsError{op: op, status: 401, code: "401"}
		e.scheme = strings.Join(resp.Header.Values("WWW-Authenticate"), ", ")
		// The negotiator hands back the server's last 401: one that carries an NTLM
		// challenge-less "NTLM"/"Negotiate" offer after our authenticate message means the
		// handshake ran and was refused.
		e.ntlm = c.auth != AuthBasic && offersNTLM(e.scheme)
		return nil, e
	}
	return resp, nil
}

func offersNTLM(scheme string) bool {
	s := strings.ToLower(scheme)
	return strings.Contains(s, "ntlm") || strings.Contains(s, "negotiate")
}

// envelope wraps an operation in SOAP with the version and access headers.
func (c *client) envelope(tg target, body string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` +
		`<soap:Envelope xmlns:soap="` + nsSOAP + `" xmlns:t="` + nsTypes + `" xmlns:m="` + nsMessages + `"><soap:Header>`)
	b.WriteString(`<t:RequestServerVersion Version="` + esc(c.version) + `"/>`)
	if c.access == AccessImpersonation && tg.mailbox != "" {
		b.WriteString(`<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>` + esc(tg.mailbox) +
			`</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>`)
	}
	b.WriteString(`</soap:Header><soap:Body>`)
	b.WriteString(body)
	b.WriteString(`</soap:Body></soap:Envelope>`)
	return b.String()
}

// calendarFolder is the room's calendar as a folder id: the delegate names the mailbox, an
// impersonating account is the mailbox already.
func (c *client) calendarFolder(mailbox string) string {
	if c.access == AccessDelegate && mailbox != "" {
		return `<t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>` + esc(mailbox) +
			`</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>`
	}
	return `<t:DistinguishedFolderId Id="calendar"/>`
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// sanitize drops the control characters XML forbids: Exchange has been seen to send them
// inside item text (exchangelib strips them too), and one would fail the whole answer.
func sanitize(b []byte) []byte {
	clean := true
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			clean = false
			break
		}
	}
	if clean {
		return b
	}
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			continue
		}
		out = append(out, c)
	}
	return out
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// oneLine squeezes a message onto one short line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

var errNoAnswer = errors.New("no answer")
