package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"
)

// Delegated sign-in on the status page (README "Status page", /signin): each Graph integration
// with auth: delegated shows who is signed in (never a token), and, to a browser on this
// machine, a "Sign in" button that starts the device-code flow in the agent and shows the URL
// and code, then how it ended, and a "Sign out" button. The buttons are control actions: only
// from this machine, only from this page (the browser's Sec-Fetch-Site/Origin), and only with
// a form key made from this start's action token, which a page on another site cannot read.

// SignInAgent is what an Agent with delegated integrations adds. The page says there is
// nothing to sign in when the Agent is not one.
type SignInAgent interface {
	// SignIns lists the delegated integrations with their account and the latest sign-in flow.
	SignIns() []SignIn
	// StartSignIn starts the device-code flow of integration (or returns the one already
	// waiting); ctx bounds the flow (the status page's lifetime), not the call.
	StartSignIn(ctx context.Context, integration string) error
	// SignOut deletes integration's stored sign-in and tells its rooms; it reports whether
	// there was one.
	SignOut(ctx context.Context, integration string) (bool, error)
}

// SignIn is one delegated integration's sign-in as the page shows it: never a token.
type SignIn struct {
	Integration string      `json:"integration"`
	SignedIn    bool        `json:"signed_in"`
	User        string      `json:"user,omitempty"`
	Name        string      `json:"name,omitempty"`
	SignedInAt  time.Time   `json:"signed_in_at,omitzero"`
	Scopes      string      `json:"scopes,omitempty"`
	LastRefresh time.Time   `json:"last_refresh,omitzero"`
	Error       string      `json:"error,omitempty"` // the stored sign-in could not be read
	Flow        *SignInFlow `json:"flow,omitempty"`
}

// Sign-in flow states (SignInFlow.State).
const (
	FlowStarting  = "starting"  // asking Entra for a code
	FlowWaiting   = "waiting"   // the code is shown; waiting for someone to sign in
	FlowSignedIn  = "signed_in" // approved: the token is stored
	FlowDeclined  = "declined"  // the person declined at the sign-in page
	FlowExpired   = "expired"   // nobody signed in before the code expired
	FlowBlocked   = "blocked"   // Conditional Access refused the device-code flow
	FlowFailed    = "failed"    // anything else (Detail says what)
	FlowCancelled = "cancelled" // the status page or the agent stopped while waiting
)

// SignInFlow is a device-code sign-in started from the page: the code to enter while it waits,
// then how it ended.
type SignInFlow struct {
	State           string    `json:"state"`
	VerificationURI string    `json:"verification_uri,omitempty"`
	UserCode        string    `json:"user_code,omitempty"`
	Expires         time.Time `json:"expires,omitzero"`
	Message         string    `json:"message,omitempty"` // Entra's own sentence
	Detail          string    `json:"detail,omitempty"`  // how it ended
	Started         time.Time `json:"started"`
	Ended           time.Time `json:"ended,omitzero"`
}

// Waiting reports whether the flow has not ended yet.
func (f *SignInFlow) Waiting() bool {
	return f != nil && (f.State == FlowStarting || f.State == FlowWaiting)
}

// signInBody is the page's data.
type signInBody struct {
	List []SignIn
	// CanAct is set for a browser on this machine with actions on: the buttons are shown.
	CanAct bool
	// Key is the form key the buttons send (made from the action token).
	Key string
	// Done is what the last button press did ("" when the page was simply opened).
	Done string
}

// signInAgent is the Agent's sign-in side, nil when it has none.
func (s *Server) signInAgent() SignInAgent {
	a, _ := s.opts.Agent.(SignInAgent)
	return a
}

// hasSignIns reports whether any integration signs in (the layout's Sign-in link).
func (s *Server) hasSignIns() bool {
	a := s.signInAgent()
	return a != nil && len(a.SignIns()) > 0
}

// formKey is the buttons' proof that the form came from a page this start served to this
// machine: an HMAC of the action token, so the token itself is never on a page (and is
// scrubbed from every answer).
func (s *Server) formKey() string {
	m := hmac.New(sha256.New, []byte(s.token))
	m.Write([]byte("otj-edge sign-in form"))
	return hex.EncodeToString(m.Sum(nil))
}

// canAct reports whether this request may see and press the sign-in buttons.
func (s *Server) canAct(r *http.Request) bool { return s.opts.TokenFile != "" && fromThisMachine(r) }

// life is the context sign-in flows run under: the status page's serving lifetime.
func (s *Server) life() context.Context {
	if p, ok := s.lifeCtx.Load().(*context.Context); ok && p != nil {
		return *p
	}
	return context.Background() // Handler used without Serve (tests)
}

// setLife records the serving context (Serve).
func (s *Server) setLife(ctx context.Context) { s.lifeCtx.Store(&ctx) }

// doneText is what the page says after a button press (?done=), fixed sentences only.
var doneText = map[string]string{
	"login":     "Sign-in started: open the address below on any device and enter the code.",
	"logout":    "Signed out: the stored token is deleted; the rooms show \"signed out\" until someone signs in again.",
	"notsigned": "Nobody was signed in.",
}

func (s *Server) signInPage(r *http.Request) (*page, error) {
	b := signInBody{CanAct: s.canAct(r), Done: doneText[r.URL.Query().Get("done")]}
	if a := s.signInAgent(); a != nil {
		b.List = a.SignIns()
	}
	if b.CanAct {
		b.Key = s.formKey()
	}
	p := &page{name: "signin", Title: "Sign-in", Nav: "signin", Body: b}
	for _, si := range b.List {
		if si.Flow.Waiting() {
			p.Refresh = 3 // the outcome shows up without a click
		}
	}
	return p, nil
}

// signInPost is POST /signin/{integration}/{action}: the action, then back to the page (a
// redirect, so the page's reloads while a flow waits are GETs).
func (s *Server) signInPost(w http.ResponseWriter, r *http.Request) {
	done, err := s.signInAction(r)
	if err != nil {
		s.page(func(*http.Request) (*page, error) { return nil, err })(w, r)
		return
	}
	http.Redirect(w, r, "/signin?done="+done, http.StatusSeeOther)
}

// signInAction carries out a button press; it returns the ?done= key.
func (s *Server) signInAction(r *http.Request) (string, error) {
	switch {
	case s.opts.TokenFile == "":
		return "", httpError{http.StatusForbidden, "control actions are turned off on this agent"}
	case !fromThisMachine(r):
		return "", httpError{http.StatusForbidden, "sign-in is accepted only from this machine: open the page on the box " +
			"(or through an SSH tunnel), or run otj-edge auth login " + s.echo(r, r.PathValue("integration"))}
	}
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		return "", httpError{http.StatusForbidden, "the sign-in buttons work only from this status page"}
	}
	key := r.PostFormValue("key")
	if !s.validToken(r) && !hmac.Equal([]byte(key), []byte(s.formKey())) {
		return "", httpError{http.StatusForbidden, "this form is from an earlier start of the agent: reload the page and press the button again"}
	}
	a := s.signInAgent()
	name := r.PathValue("integration")
	if a == nil || !s.signsIn(a, name) {
		return "", errNotFound("integration " + s.echo(r, name) + " does not sign in (it needs type: graph and auth: delegated)")
	}
	switch r.PathValue("action") {
	case "login":
		if err := a.StartSignIn(s.life(), name); err != nil {
			return "", actionError("sign-in", err)
		}
		s.log.Info("sign-in started from the status page", "integration", name)
		return "login", nil
	case "logout":
		had, err := a.SignOut(r.Context(), name)
		if err != nil {
			return "", actionError("sign-out", err)
		}
		s.log.Info("signed out from the status page", "integration", name)
		if !had {
			return "notsigned", nil
		}
		return "logout", nil
	}
	return "", errNotFound("no sign-in action " + s.echo(r, r.PathValue("action")) + " (there are login and logout)")
}

func (s *Server) signsIn(a SignInAgent, name string) bool {
	for _, si := range a.SignIns() {
		if si.Integration == name {
			return true
		}
	}
	return false
}
