package google

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/source/poll"
)

// What a failed request means for a room (README "Calendar sync (Google Workspace)"): its
// status word, one line that says what to do (never the key), and when to try again.

type failure struct {
	status  string
	detail  string
	code    string
	retryIn time.Duration // 0: exponential backoff
	limited bool          // a rate limit: back off exponentially, per room, never sooner
	after   time.Duration // Retry-After, when Google sent one
	budget  bool
}

// Google's rate-limit reasons (research B5): the project's or the user's per-minute quota,
// and the Workspace calendar usage limits; all answered with exponential backoff.
var rateReasons = map[string]bool{"rateLimitExceeded": true, "userRateLimitExceeded": true, "quotaExceeded": true}

// classify maps an error of a room's round (calendarID "" for the integration) to a failure.
func classify(err error, calendarID string, in Integration, key keyInfo) failure {
	var se *storeError
	if errors.As(err, &se) {
		return failure{status: store.RoomTransient, code: "store", detail: oneLine(se.Error())}
	}
	if errors.Is(err, errBudget) {
		return failure{code: "budget", budget: true, detail: errBudget.Error()}
	}
	room := firstNonEmpty(calendarID, "<room>")
	who := key.email
	if in.Subject != "" {
		who = in.Subject + " (as " + key.email + ")"
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return tokenFailure(re, in, key)
	}
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		var ue *url.Error
		var ne net.Error
		if errors.As(err, &ue) || errors.As(err, &ne) {
			return failure{status: store.RoomTransient, code: "network", detail: "cannot reach Google: " + oneLine(err.Error()) + "; retrying"}
		}
		return failure{status: store.RoomTransient, code: "error", detail: oneLine(err.Error())}
	}
	reason := ""
	if len(ge.Errors) > 0 {
		reason = ge.Errors[0].Reason
	}
	msg := oneLine(firstNonEmpty(ge.Message, http.StatusText(ge.Code)))
	f := failure{code: fmt.Sprintf("%d %s", ge.Code, reason)}
	f.code = strings.TrimSpace(f.code)
	switch {
	case ge.Code == http.StatusTooManyRequests || (ge.Code == http.StatusForbidden && rateReasons[reason]):
		f.status, f.limited = store.RoomThrottled, true
		f.after = retryAfter(ge.Header)
		f.detail = fmt.Sprintf("Google is rate-limiting the requests (%s: %s); backing off", f.code, msg)
	case ge.Code == http.StatusUnauthorized:
		f.status, f.retryIn = store.RoomAuthFailed, retryAuth
		f.detail = fmt.Sprintf("Google refused the access token of %s (401: %s): check that the service account and its key still exist (Cloud console → IAM & Admin → Service accounts)", who, msg)
	case ge.Code == http.StatusForbidden:
		f.status, f.retryIn = store.RoomPolicyDenied, retryPolicy
		f.detail = fmt.Sprintf("%s may not read the calendar %s (%s: %s): %s", who, room, f.code, msg, shareFix(in, key, room))
	case ge.Code == http.StatusNotFound:
		f.status, f.retryIn = store.RoomNotFound, retryNotFound
		f.detail = fmt.Sprintf("Google has no calendar %s that %s can see (404): check the room's resource calendar id "+
			"(Admin console → Directory → Buildings and resources → the room's Resource email) or its email alias; "+
			"if it is right, %s", room, who, shareFix(in, key, room))
	case ge.Code == http.StatusBadRequest:
		f.status, f.retryIn = store.RoomTransient, 15*time.Minute
		f.detail = fmt.Sprintf("Google refused the request (%s: %s)", f.code, msg)
	default:
		f.status = store.RoomTransient
		f.detail = fmt.Sprintf("Google failed the request (%s: %s); retrying", f.code, msg)
	}
	return f
}

// shareFix says how to let the integration read a room's calendar, for its access model.
func shareFix(in Integration, key keyInfo, room string) string {
	if in.Subject != "" {
		return fmt.Sprintf("share the resource calendar %s with %s (Calendar → the room's settings → Share with specific people: See all event details), "+
			"or leave subject empty and share it with the service account %s", room, in.Subject, key.email)
	}
	return fmt.Sprintf("share the resource calendar %s with the service account %s (See all event details), "+
		"or grant domain-wide delegation and set subject to an admin", room, key.email)
}

// tokenFailure explains a refused token request (the JWT bearer grant), naming the admin
// console step for delegation.
func tokenFailure(re *oauth2.RetrieveError, in Integration, key keyInfo) failure {
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(re.Body, &body)
	code := firstNonEmpty(body.Error, re.ErrorCode)
	desc := oneLine(firstNonEmpty(body.Description, re.ErrorDescription))
	f := failure{status: store.RoomAuthFailed, retryIn: retryAuth, code: firstNonEmpty(code, "token")}
	switch {
	case code == "unauthorized_client":
		f.detail = fmt.Sprintf("Google refused to issue tokens for %s as %s (unauthorized_client: %s): in the Admin console, "+
			"Security → Access and data control → API controls → Domain-wide delegation → Add new: client ID %s (the numeric client ID, not the email) "+
			"with the scope %s; it can take up to 24 h to apply. Or leave subject empty and share the rooms' calendars with the service account",
			key.email, firstNonEmpty(in.Subject, "itself"), desc, firstNonEmpty(key.clientID, "<client_id of the key file>"), strings.Join(in.Scopes, ","))
	case code == "invalid_grant" && in.Subject != "" && strings.Contains(strings.ToLower(desc), "email"):
		f.detail = fmt.Sprintf("Google does not know the subject %s (invalid_grant: %s): set subject to an existing user of the Workspace domain (an admin)", in.Subject, desc)
	case code == "invalid_grant":
		f.detail = fmt.Sprintf("Google refused the service account's sign-in (invalid_grant: %s): the key may have been deleted or the clock may be wrong; "+
			"create a new JSON key for %s (Cloud console → IAM & Admin → Service accounts → Keys) and check the time", desc, key.email)
	case code == "invalid_scope":
		f.detail = fmt.Sprintf("Google refused the scopes %s (invalid_scope: %s): use %s", strings.Join(in.Scopes, ","), desc, ScopeReadOnly)
	default:
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		if status >= 500 || status == http.StatusTooManyRequests {
			f.status, f.retryIn = store.RoomTransient, 0
		}
		f.detail = fmt.Sprintf("the token endpoint %s refused the sign-in of %s (HTTP %d %s: %s)", key.tokenURL, key.email, status, code, desc)
	}
	return f
}

// retryAfter reads a Retry-After header in seconds (0 when absent).
func retryAfter(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After"))); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 0
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// rateBackoff is the wait after n consecutive rate-limit answers: Google's truncated
// exponential backoff, RateBackoff doubling to RateBackoffMax.
func (s *Syncer) rateBackoff(n int) time.Duration {
	d := s.tune.RateBackoff << min(max(n, 1)-1, 16)
	return min(d, s.tune.RateBackoffMax)
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
	if f.limited {
		r.limited++
	} else {
		r.limited = 0
	}
	switch {
	case f.limited:
		// This room only waits (the others go on); never before Google's Retry-After, and
		// SyncNow waits too. Up to a second of random spread, as Google's guide asks.
		wait := max(s.rateBackoff(r.limited), f.after)
		r.notBefore = now.Add(wait)
		delay = wait + time.Duration(s.rng.Float64()*float64(time.Second))
	case delay == 0:
		delay = poll.Jitter(s.rng, s.tune.Jitter, poll.Backoff(r.failures))
	}
	r.due = now.Add(delay)
	ev, emitted := s.transition(r, f.status, &f)
	st, changed := poll.Failed(r.state, f.outcome(), s.name, now, r.due)
	r.lastCode = f.code
	key, n := s.takeCount()
	s.mu.Unlock()
	if changed {
		poll.LogFailure(ctx, s.log, mailbox, f.outcome(), delay)
	}
	err := s.st.Write(ctx, func(tx *store.Tx) error {
		if err := tx.PutSyncState(st); err != nil {
			return err
		}
		return s.writeCount(tx, key, n, ev)
	})
	if err != nil {
		s.returnCount(key, n)
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
