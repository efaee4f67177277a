package ewssim

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// reqCtx is one EWS request after authentication.
type reqCtx struct {
	r            *http.Request
	user         string
	op           string
	body         *node  // the operation element
	impersonated string // lower-case SMTP address under ExchangeImpersonation, else ""
	mailbox      string // the mailbox the request is about, for counters and faults
}

func (s *Server) serveEWS(w http.ResponseWriter, r *http.Request, user string) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return
	}
	var env node
	if err := xml.NewDecoder(bytes.NewReader(raw)).Decode(&env); err != nil || env.XMLName.Local != "Envelope" {
		writeFault(w, &fault{code: "ErrorSchemaValidation", soap: "s:Client", message: "The request failed schema validation: the body is not a SOAP envelope."})
		return
	}
	body := env.child("Body")
	if body == nil || len(body.Nodes) == 0 {
		writeFault(w, &fault{code: "ErrorSchemaValidation", soap: "s:Client", message: "The request failed schema validation: the SOAP body is empty."})
		return
	}
	header := env.child("Header")
	if v := header.child("RequestServerVersion"); v != nil {
		if ver := v.attr("Version"); !versions[ver] {
			code := "ErrorInvalidRequest"
			if strings.HasPrefix(ver, "V20") {
				code = "ErrorInvalidServerVersion"
			}
			writeFault(w, &fault{code: code, message: messages[code]})
			return
		}
	}
	rc := &reqCtx{r: r, user: user, body: &body.Nodes[0], op: body.Nodes[0].XMLName.Local}
	if imp := header.child("ExchangeImpersonation"); imp != nil {
		addr, f := s.impersonate(user, imp)
		if f != nil {
			s.count(rc, "", true)
			writeFault(w, f)
			return
		}
		rc.impersonated = addr
	}
	rc.mailbox = s.mailboxOf(rc)
	if rc.op == "GetStreamingEvents" {
		s.count(rc, "", false)
		s.getStreamingEvents(w, rc)
		return
	}
	release, f := s.admit(rc)
	if f != nil {
		s.count(rc, "ErrorServerBusy", false)
		writeFault(w, f)
		return
	}
	defer release()
	s.count(rc, "", false)
	if d := time.Duration(s.Settings().Latency); d > 0 {
		sleepCtx(r.Context(), d)
	}
	var out string
	switch rc.op {
	case "SyncFolderItems":
		out = s.syncFolderItems(rc)
	case "FindItem":
		out = s.findItem(rc)
	case "GetItem":
		out = s.getItem(rc)
	case "Subscribe":
		out = s.subscribe(w, rc)
	case "Unsubscribe":
		out = s.unsubscribe(rc)
	default:
		writeFault(w, &fault{code: "ErrorInvalidRequest", message: "The request is invalid: operation " + rc.op + " is not supported by this simulator."})
		return
	}
	writeXML(w, http.StatusOK, envelope(out))
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// impersonate checks ExchangeImpersonation: the mailbox must exist and the account hold the
// ApplicationImpersonation role for it; failures are SOAP faults, as in Exchange.
func (s *Server) impersonate(user string, imp *node) (string, *fault) {
	sid := imp.child("ConnectingSID")
	var addr string
	for _, k := range []string{"PrimarySmtpAddress", "SmtpAddress", "PrincipalName"} {
		if v := sid.child(k).text(); v != "" {
			addr = strings.ToLower(v)
			break
		}
	}
	if addr == "" {
		return "", &fault{code: "ErrorInvalidExchangeImpersonationHeaderData", message: messages["ErrorInvalidExchangeImpersonationHeaderData"]}
	}
	if _, ok := s.gs.MailboxName(addr); !ok {
		return "", &fault{code: "ErrorNonExistentMailbox", message: messages["ErrorNonExistentMailbox"]}
	}
	s.mu.Lock()
	acc := s.accounts[user]
	can := acc != nil && acc.canImpersonate(addr)
	s.mu.Unlock()
	if !can {
		return "", &fault{code: "ErrorImpersonateUserDenied", message: messages["ErrorImpersonateUserDenied"]}
	}
	return addr, nil
}

// mailboxOf names the mailbox a request is about: impersonated, anchor, first address or item id.
func (s *Server) mailboxOf(rc *reqCtx) string {
	if rc.impersonated != "" {
		return rc.impersonated
	}
	if a := rc.r.Header.Get("X-AnchorMailbox"); a != "" {
		return strings.ToLower(a)
	}
	if e := rc.body.find("EmailAddress"); e != nil {
		return strings.ToLower(e.text())
	}
	if id := rc.body.find("ItemId"); id != nil {
		if mb, _, err := decodeItemID(id.attr("Id")); err == nil {
			return mb
		}
	}
	return ""
}

// access decides which mailbox a DistinguishedFolderId designates and whether the caller may
// read it; code is the ResponseCode of a refusal.
func (s *Server) access(rc *reqCtx, folder *node) (mailbox, code string) {
	if folder == nil {
		return "", "ErrorFolderNotFound"
	}
	if folder.XMLName.Local != "DistinguishedFolderId" {
		return "", "ErrorFolderNotFound" // FolderIds of other folders: none exist here
	}
	if !strings.EqualFold(folder.attr("Id"), "calendar") {
		return "", "ErrorFolderNotFound"
	}
	explicit := strings.ToLower(folder.path("Mailbox", "EmailAddress").text())
	if rc.impersonated != "" {
		if explicit != "" && explicit != rc.impersonated {
			return "", "ErrorAccessDenied"
		}
		return rc.impersonated, ""
	}
	if explicit == "" {
		return "", "ErrorMissingEmailAddress"
	}
	return explicit, s.delegateCode(rc.user, explicit)
}

// delegateCode is "" when the account may read the room as a delegate.
func (s *Server) delegateCode(user, mailbox string) string {
	if _, ok := s.gs.MailboxName(mailbox); !ok {
		return "ErrorNonExistentMailbox"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if acc := s.accounts[user]; acc != nil && acc.Delegate[mailbox] != "" {
		return ""
	}
	return "ErrorAccessDenied"
}

// itemAccess checks an item id's mailbox against the caller's rights.
func (s *Server) itemAccess(rc *reqCtx, mailbox string) string {
	if rc.impersonated != "" {
		if mailbox != rc.impersonated {
			return "ErrorAccessDenied"
		}
		return ""
	}
	return s.delegateCode(rc.user, mailbox)
}

// admit applies faults, the account's concurrency limit and its rate budget.
func (s *Server) admit(rc *reqCtx) (release func(), f *fault) {
	now := s.now()
	if flt := s.takeFault(rc.mailbox, rc.op, now); flt != nil {
		return nil, &fault{code: "ErrorServerBusy", message: messages["ErrorServerBusy"],
			values: [][2]string{{"BackOffMilliseconds", strconv.Itoa(flt.BackOffMilliseconds)}}}
	}
	s.mu.Lock()
	acc := s.accounts[rc.user]
	limit := s.settings.MaxConcurrency
	if acc == nil {
		s.mu.Unlock()
		return nil, &fault{code: "ErrorAccessDenied", message: messages["ErrorAccessDenied"]}
	}
	if acc.inFlight >= limit {
		s.mu.Unlock()
		msg := "You have exceeded the available concurrent connections for your account. Try again once your other requests have completed."
		return nil, &fault{code: "ErrorServerBusy", message: msg, values: [][2]string{{"Policy", "MaxConcurrency"},
			{"MaxConcurrencyLimit", strconv.Itoa(limit)},
			{"ErrorMessage", "This operation exceeds the throttling budget for policy part 'MaxConcurrency', policy value '" + strconv.Itoa(limit) + "', Budget type: 'Ews'. Suggested backoff time 0 ms."}}}
	}
	acc.inFlight++
	s.stats.peak(rc.user, acc.inFlight)
	perMinute := acc.RequestsPerMinute
	s.mu.Unlock()
	release = func() {
		s.mu.Lock()
		acc.inFlight--
		s.mu.Unlock()
	}
	if perMinute > 0 {
		if wait := acc.spend(now, perMinute); wait > 0 {
			release()
			return nil, &fault{code: "ErrorServerBusy", message: messages["ErrorServerBusy"],
				values: [][2]string{{"BackOffMilliseconds", strconv.FormatInt(wait.Milliseconds(), 10)}}}
		}
	}
	return release, nil
}

// spend takes one request from a one-minute sliding window; it returns how long until a slot
// frees when the budget is spent.
func (a *account) spend(now time.Time, perMinute int) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	ms := now.UnixMilli()
	keep := a.window[:0]
	for _, t := range a.window {
		if ms-t < 60_000 {
			keep = append(keep, t)
		}
	}
	a.window = keep
	if len(a.window) >= perMinute {
		return time.Duration(60_000-(ms-a.window[0])) * time.Millisecond
	}
	a.window = append(a.window, ms)
	return 0
}
