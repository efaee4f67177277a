package agent

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/web"
)

// The status page's sign-in buttons (web.SignInAgent): the same device-code flow and token
// vault as `otj-edge auth login|logout` (auth.go), run inside the agent, with the code and
// the outcome kept for the page to show.

// signIns holds the latest page-started flow of each integration.
type signIns struct {
	mu    sync.Mutex
	flows map[string]*web.SignInFlow // by integration; copied out under mu
}

var _ web.SignInAgent = webAgent{}

// SignIns lists the delegated Graph integrations, each with its account and latest flow.
func (w webAgent) SignIns() []web.SignIn {
	cfg := w.a.cfg.Load()
	var out []web.SignIn
	for i := range cfg.Integrations {
		in := &cfg.Integrations[i]
		if g := in.Graph(); g == nil || !g.Delegated() {
			continue
		}
		si := web.SignIn{Integration: in.Name}
		if st, err := AuthStatus(cfg, in.Name); err != nil {
			si.Error = err.Error()
		} else {
			si.SignedIn, si.User, si.Name, si.SignedInAt, si.Scopes, si.LastRefresh =
				st.SignedIn, st.User, st.Name, st.SignedInAt, st.Scopes, st.LastRefresh
		}
		si.Flow = w.a.signIn.flow(in.Name)
		out = append(out, si)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Integration < out[j].Integration })
	return out
}

func (s *signIns) flow(name string) *web.SignInFlow {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.flows[name]; f != nil {
		c := *f
		return &c
	}
	return nil
}

func (s *signIns) update(name string, fn func(*web.SignInFlow)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.flows[name]; f != nil {
		fn(f)
	}
}

// StartSignIn starts integration's device-code flow in the background, unless one is
// already waiting (its code stays the one to enter). On approval every room syncs at once.
func (w webAgent) StartSignIn(ctx context.Context, name string) error {
	a := w.a
	cfg := a.cfg.Load()
	if _, err := delegatedIntegration(cfg, name); err != nil {
		return errors.Join(err, web.ErrNotFound)
	}
	a.signIn.mu.Lock()
	if f := a.signIn.flows[name]; f.Waiting() {
		a.signIn.mu.Unlock()
		return nil
	}
	if a.signIn.flows == nil {
		a.signIn.flows = map[string]*web.SignInFlow{}
	}
	a.signIn.flows[name] = &web.SignInFlow{State: web.FlowStarting, Started: a.clock.Now()}
	a.signIn.mu.Unlock()
	go a.runSignIn(ctx, cfg, name)
	return nil
}

func (a *Agent) runSignIn(ctx context.Context, cfg *config.Config, name string) {
	st, err := AuthLogin(ctx, cfg, name, a.clock, func(dc DeviceCode) error {
		a.signIn.update(name, func(f *web.SignInFlow) {
			f.State, f.VerificationURI, f.UserCode, f.Expires, f.Message =
				web.FlowWaiting, dc.VerificationURI, dc.UserCode, dc.Expires, strings.TrimSpace(dc.Message)
		})
		return nil
	})
	state, detail := web.FlowSignedIn, "Signed in as "+firstNonEmptyString(st.User, "(unknown account)")+"."
	switch {
	case err == nil:
		a.log.Info("signed in from the status page", "integration", name, "user", st.User)
		if err := a.Sync(ctx, "", false); err != nil { // the rooms use the sign-in at once
			a.log.Warn("sync after the sign-in", "integration", name, "err", err)
		}
	case errors.Is(err, ErrLoginDeclined):
		state, detail = web.FlowDeclined, err.Error()
	case errors.Is(err, ErrLoginExpired):
		state, detail = web.FlowExpired, err.Error()
	case ctx.Err() != nil:
		state, detail = web.FlowCancelled, "the status page stopped while waiting for the sign-in: press Sign in again"
	case strings.Contains(err.Error(), "Conditional Access"):
		state, detail = web.FlowBlocked, err.Error()
	default:
		state, detail = web.FlowFailed, err.Error()
	}
	if err != nil {
		a.log.Warn("sign-in from the status page did not succeed", "integration", name, "outcome", state, "err", err)
	}
	a.signIn.update(name, func(f *web.SignInFlow) {
		f.State, f.Detail, f.Ended = state, detail, a.clock.Now()
		f.UserCode = "" // spent either way
	})
}

// SignOut deletes integration's stored sign-in and asks every room to sync, so they show
// "signed out" now rather than at their next poll.
func (w webAgent) SignOut(ctx context.Context, name string) (bool, error) {
	cfg := w.a.cfg.Load()
	had, err := AuthLogout(cfg, name)
	if err != nil {
		return false, err
	}
	w.a.signIn.mu.Lock()
	delete(w.a.signIn.flows, name)
	w.a.signIn.mu.Unlock()
	w.a.log.Info("signed out from the status page", "integration", name, "had_sign_in", had)
	if err := w.a.Sync(ctx, "", false); err != nil {
		w.a.log.Warn("sync after the sign-out", "integration", name, "err", err)
	}
	return had, nil
}

func firstNonEmptyString(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
