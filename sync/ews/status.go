package ews

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/source/poll"
)

// What a failed request means for a room (README "Calendar sync (Exchange on-premises,
// EWS)"): its status word, one line that says what to do (never the password), and when to
// try again.

type failure struct {
	status  string
	detail  string
	code    string
	retryIn time.Duration // 0: exponential backoff
	backoff time.Duration // Exchange's BackOffMilliseconds (throttled): never sooner
	budget  bool
}

// classify maps an error of a room's round (mailbox "" for the integration) to a failure.
func classify(err error, mailbox string, in Integration) failure {
	var se *storeError
	if errors.As(err, &se) {
		return failure{status: store.RoomTransient, code: "store", detail: oneLine(se.Error())}
	}
	var e *ewsError
	if !errors.As(err, &e) {
		return failure{status: store.RoomTransient, code: "error", detail: oneLine(err.Error())}
	}
	room := firstNonEmpty(mailbox, "<room>")
	account := firstNonEmpty(in.Username, "<account>")
	f := failure{code: e.code}
	switch {
	case e.code == "budget":
		return failure{code: "budget", budget: true, detail: errBudget.Error()}
	case e.code == "basic_over_http":
		f.status, f.retryIn, f.detail = store.RoomAuthFailed, retryAuth, e.message
	case e.err != nil:
		f.status, f.code = store.RoomTransient, "network"
		f.detail = "cannot reach Exchange: " + oneLine(e.err.Error()) + "; retrying"
	case e.status == http.StatusUnauthorized:
		f.status, f.retryIn, f.code = store.RoomAuthFailed, retryAuth, "401"
		f.detail = authDetail(e, in)
	case e.code == "ErrorServerBusy" || e.code == "ErrorExceededConnectionCount" || e.code == "ErrorExceededSubscriptionCount" ||
		e.status == http.StatusServiceUnavailable || e.status == http.StatusTooManyRequests:
		f.status = store.RoomThrottled
		f.backoff = e.backoff
		if f.backoff <= 0 {
			f.backoff = 30 * time.Second
		}
		f.code = firstNonEmpty(e.code, fmt.Sprint(e.status))
		f.detail = fmt.Sprintf("Exchange is throttling the service account (%s); next try in %s as it asks", f.code, f.backoff.Round(time.Second))
	case e.code == "ErrorImpersonateUserDenied" || (e.code == "ErrorAccessDenied" && in.Access == AccessImpersonation):
		f.status, f.retryIn = store.RoomPolicyDenied, retryPolicy
		f.detail = fmt.Sprintf("%s may not impersonate %s (%s): grant ApplicationImpersonation on a scope of the rooms: "+
			"New-ManagementScope -Name OTJRooms -RecipientRestrictionFilter \"RecipientTypeDetails -eq 'RoomMailbox'\"; "+
			"New-ManagementRoleAssignment -Name OTJImpersonation -Role ApplicationImpersonation -User %s -CustomRecipientWriteScope OTJRooms",
			account, room, e.code, userOf(account))
	case e.code == "ErrorAccessDenied" || (e.code == "ErrorFolderNotFound" && in.Access == AccessDelegate):
		f.status, f.retryIn = store.RoomPolicyDenied, retryPolicy
		f.detail = fmt.Sprintf("%s may not read the calendar of %s (%s): Add-MailboxFolderPermission -Identity %s:\\Calendar -User %s -AccessRights Reviewer",
			account, room, e.code, room, userOf(account))
	case e.code == "ErrorNonExistentMailbox" || e.code == "ErrorMailRecipientNotFound" || e.code == "ErrorInvalidExchangeImpersonationHeaderData":
		f.status, f.retryIn = store.RoomNotFound, retryNotFound
		f.detail = fmt.Sprintf("Exchange has no mailbox %s (%s): check the room address in the config (EWS needs the primary SMTP address)", room, e.code)
	case e.code == "ErrorMissingEmailAddress":
		f.status, f.retryIn = store.RoomAuthFailed, retryAuth
		f.detail = fmt.Sprintf("%s has no mailbox, which delegate access needs (ErrorMissingEmailAddress): give the service account a mailbox, or use access: impersonation", account)
	case e.code == "ErrorInvalidServerVersion" || e.code == "ErrorInvalidRequest" || e.code == "ErrorSchemaValidation":
		f.status, f.retryIn = store.RoomTransient, 5*time.Minute
		f.detail = fmt.Sprintf("Exchange refused the request (%s: %s): request_server_version %s may not suit this server; Exchange2013_SP1 or Exchange2016 work with 2016/2019",
			e.code, oneLine(e.message), in.RequestServerVersion)
	case e.code == "TooManyItems":
		f.status, f.retryIn = store.RoomTransient, 15*time.Minute
		f.detail = oneLine(e.message) + ": the room's calendar is too full to read"
	case e.status >= 500 || e.code != "":
		f.status = store.RoomTransient
		f.code = firstNonEmpty(e.code, fmt.Sprint(e.status))
		f.detail = "Exchange failed the request (" + strings.TrimSpace(f.code+": "+oneLine(e.message)) + "); retrying"
	default:
		f.status, f.code = store.RoomTransient, fmt.Sprint(e.status)
		f.detail = fmt.Sprintf("Exchange answered HTTP %d; retrying", e.status)
	}
	return f
}

// authDetail says why Exchange refused the sign-in, naming the method and the account.
func authDetail(e *ewsError, in Integration) string {
	account := firstNonEmpty(in.Username, "<account>")
	if in.Auth == AuthBasic {
		if !strings.Contains(strings.ToLower(e.scheme), "basic") {
			return fmt.Sprintf("Exchange refused Basic sign-in of %s (401; it offers %s): Basic is off on the EWS virtual directory; "+
				"use auth: ntlm, or turn Basic on (Set-WebServicesVirtualDirectory -BasicAuthentication $true)", account, firstNonEmpty(e.scheme, "nothing"))
		}
		return fmt.Sprintf("Exchange refused Basic sign-in of %s (401): check username and password", account)
	}
	if !offersNTLM(e.scheme) {
		return fmt.Sprintf("Exchange does not offer NTLM (401; it offers %s): use auth: basic over https, or turn on Windows authentication on the EWS virtual directory",
			firstNonEmpty(e.scheme, "nothing"))
	}
	// NTLM ran and was refused: a wrong password looks the same on the wire as Extended
	// Protection refusing a handshake without channel binding, which this client cannot send.
	return fmt.Sprintf("Exchange refused NTLM sign-in of %s (401): either the password is wrong, or IIS Extended Protection "+
		"(Require, the default from Exchange 2019 CU14) refuses NTLM without channel binding, which otj-edge's NTLM cannot send. "+
		"Choices: auth: basic over https; set Extended Protection on the EWS virtual directory to Allow or None "+
		"(Set-WebServicesVirtualDirectory -ExtendedProtectionTokenChecking Allow); Kerberos is not supported", account)
}

// userOf is the account as Exchange cmdlets take it.
func userOf(account string) string {
	if _, u, ok := strings.Cut(account, `\`); ok {
		return u
	}
	return account
}

// failed records a failed round: status, next attempt and the request count, in one write.
func (s *Syncer) failed(ctx context.Context, r *room, f failure) {
	now := s.clk.Now()
	mailbox := r.spec.Mailbox
	s.mu.Lock()
	if f.budget {
		r.due = poll.NextMidnight(now)
		s.mu.Unlock()
		return
	}
	r.failures++
	delay := f.retryIn
	switch {
	case f.backoff > 0:
		// Never before Exchange's back-off (plus a little spread); SyncNow waits for it too.
		delay = f.backoff + time.Duration(s.rng.Float64()*s.tune.Jitter*float64(f.backoff)) + 100*time.Millisecond
		r.notBefore = now.Add(f.backoff + 100*time.Millisecond)
	case delay == 0:
		delay = poll.Jitter(s.rng, s.tune.Jitter, poll.Backoff(r.failures))
	}
	r.due = now.Add(delay)
	ev, emitted := s.transition(r, f.status, &f)
	st, changed := poll.Failed(r.state, f.outcome(), s.name, now, r.due)
	r.lastCode = f.code
	s.mu.Unlock()
	if changed {
		poll.LogFailure(ctx, s.log, mailbox, f.outcome(), delay)
	}
	err := s.writeRoom(ctx, r, func(tx *store.Tx, key string, n int64) error {
		if err := tx.PutSyncState(st); err != nil {
			return err
		}
		return s.writeCount(tx, key, n, ev)
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("cannot save the room's sync state", "room", mailbox, "err", err)
		}
		return
	}
	s.mu.Lock()
	r.state, r.emitted = st, emitted
	s.mu.Unlock()
}

// outcome is the failure as poll's status helpers take it.
func (f *failure) outcome() poll.Outcome {
	return poll.Outcome{Status: f.status, Code: f.code, Detail: f.detail}
}

// transition decides whether a status change is worth an event (poll.Transition, as the
// Graph source does): conditions a person must fix at once, passing ones when they last, and
// the recovery. f is nil for store.RoomOK.
func (s *Syncer) transition(r *room, status string, f *failure) (*store.Event, bool) {
	o := poll.Outcome{Status: status}
	if f != nil {
		o = f.outcome()
		o.Status = status
	}
	h := poll.History{Emitted: r.emitted, Failures: r.failures, Status: r.state.Status, LastCode: r.lastCode}
	return poll.Transition(poll.Kinds{Error: EventSyncError, Recovered: EventSyncRecovered}, s.name, r.spec.Mailbox, h, o)
}
