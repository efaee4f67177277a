package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/otj-edge/otj-edge/agent/config"
)

// Action names (POST /api/actions/<name>).
const (
	ActionSync      = "sync"
	ActionPush      = "push"
	ActionRetry     = "retry"
	ActionReload    = "reload"
	ActionRulesTest = "rules-test"
)

// ActionRequest is the JSON body of an action. Each action takes only its own keys:
//
//	sync        {"room": "room-01@example.com", "full": true}   room "" or absent: every room
//	push        {"endpoint": "codec-1"}                          endpoint "" or absent: every endpoint that takes pushes
//	retry       {"endpoint": "codec-1"}                          one connection attempt now (a Cisco endpoint)
//	reload      {}
//	rules-test  {"profile": "default", "event": {Graph event JSON}}
//	            {"profile": "default", "invite": "text or HTML", "subject": "…", "location": "…"}
type ActionRequest struct {
	Room     string          `json:"room,omitempty"`
	Full     bool            `json:"full,omitempty"`
	Endpoint string          `json:"endpoint,omitempty"`
	Profile  string          `json:"profile,omitempty"`
	Event    json.RawMessage `json:"event,omitempty"`
	Invite   string          `json:"invite,omitempty"`
	Format   string          `json:"format,omitempty"` // auto (default), text, html
	Subject  string          `json:"subject,omitempty"`
	Location string          `json:"location,omitempty"`
}

// maxActionBody bounds an action's body (an invite with its HTML boilerplate fits easily).
const maxActionBody = 4 << 20

func (s *Server) apiAction(r *http.Request) (any, error) {
	name := r.PathValue("name")
	if !slices.Contains([]string{ActionSync, ActionPush, ActionRetry, ActionReload, ActionRulesTest}, name) {
		return nil, errNotFound(fmt.Sprintf("no action %q (there are sync, push, retry, reload and rules-test)", name))
	}
	switch {
	case s.opts.TokenFile == "":
		return nil, httpError{http.StatusForbidden, "control actions are turned off on this agent"}
	case !fromThisMachine(r):
		return nil, httpError{http.StatusForbidden, "control actions are accepted only from this machine"}
	case !s.validToken(r):
		return nil, httpError{http.StatusForbidden, "control actions need this start's token in the " + TokenHeader +
			" header; the agent writes it to " + TokenFileName + " in its state directory"}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, httpError{http.StatusUnsupportedMediaType, "send the action's arguments as application/json"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxActionBody))
	if err != nil {
		return nil, errBadRequest(fmt.Sprintf("read the request: %v (at most %d bytes)", err, maxActionBody))
	}
	var req ActionRequest
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return nil, errBadRequest("the request is not a valid " + name + " request: " + err.Error())
		}
	}
	if err := req.onlyKeysOf(name); err != nil {
		return nil, err
	}
	cfg := s.opts.Agent.Config()
	if cfg == nil {
		return nil, httpError{http.StatusServiceUnavailable, "the agent has no configuration loaded yet; try again in a moment"}
	}
	res := ActionResult{OK: true, Action: name, RequestedAt: s.clock.Now()}
	ctx := r.Context()
	switch name {
	case ActionSync:
		room := strings.ToLower(strings.TrimSpace(req.Room))
		if room != "" && !roomConfigured(cfg, room) {
			return nil, errNotFound("room " + room + " is not configured")
		}
		if err := s.opts.Agent.Sync(ctx, room, req.Full); err != nil {
			return nil, actionError("sync", err)
		}
		what := "every room"
		if room != "" {
			what = room
		}
		kind := "sync"
		if req.Full {
			kind = "full sync"
		}
		res.Message = kind + " of " + what + " requested"
	case ActionPush:
		if req.Endpoint != "" {
			e := cfg.Endpoint(req.Endpoint)
			if e == nil {
				return nil, errNotFound("endpoint " + req.Endpoint + " is not configured")
			}
			if why := s.opts.Agent.Pulled(req.Endpoint); why != "" {
				return nil, errBadRequest("endpoint " + why + ", so there is nothing to push")
			}
		}
		results, err := s.opts.Agent.Push(ctx, req.Endpoint)
		if err != nil {
			return nil, actionError("push", err)
		}
		res.Endpoints = results
		for _, r := range results {
			res.OK = res.OK && r.OK()
		}
		res.Message = "push to " + cmp(req.Endpoint, "every endpoint that takes pushes") + ": " + Summary(results)
		if req.Endpoint != "" && len(results) == 1 {
			res.Message = "push to " + req.Endpoint + ": " + results[0].Sentence()
		}
	case ActionRetry:
		if err := s.pushedEndpoint(r, cfg, req.Endpoint, "retry"); err != nil {
			return nil, err
		}
		r, err := s.opts.Agent.Retry(ctx, req.Endpoint)
		if err != nil {
			return nil, actionError("retry", err)
		}
		res.Endpoints, res.OK = []EndpointResult{r}, r.OK() && r.Connected
		res.Message = "retry of " + req.Endpoint + ": " + r.RetrySentence(s.opts.Location)
	case ActionReload:
		if err := s.opts.Agent.Reload(ctx); err != nil {
			return nil, httpError{http.StatusUnprocessableEntity, "config not reloaded; the running config stays:\n" + err.Error()}
		}
		res.Message = "config reloaded"
	case ActionRulesTest:
		in := RulesInput{Profile: req.Profile, Format: req.Format, Invite: req.Invite, Subject: req.Subject, Location: req.Location}
		if len(req.Event) > 0 {
			if req.Invite != "" {
				return nil, errBadRequest("give either event (Graph event JSON) or invite (text or HTML), not both")
			}
			in.Format, in.Invite = FormatJSON, string(req.Event)
		}
		out, err := s.rulesTest(ctx, cfg, in)
		if err != nil {
			return nil, err
		}
		res.Rules = &out.Result
		res.Message = "rules of profile " + out.Profile
	}
	return res, nil
}

// onlyKeysOf rejects arguments that belong to another action (a typo would otherwise be
// silently ignored: "push" with a room would push everything).
func (req ActionRequest) onlyKeysOf(name string) error {
	var stray []string
	check := func(set bool, key string, allowed ...string) {
		if set && !slices.Contains(allowed, name) {
			stray = append(stray, key)
		}
	}
	check(req.Room != "", "room", ActionSync)
	check(req.Full, "full", ActionSync)
	check(req.Endpoint != "", "endpoint", ActionPush, ActionRetry)
	check(req.Profile != "", "profile", ActionRulesTest)
	check(len(req.Event) > 0, "event", ActionRulesTest)
	check(req.Invite != "", "invite", ActionRulesTest)
	check(req.Format != "", "format", ActionRulesTest)
	check(req.Subject != "", "subject", ActionRulesTest)
	check(req.Location != "", "location", ActionRulesTest)
	if len(stray) > 0 {
		return errBadRequest(fmt.Sprintf("%s does not take %s", name, strings.Join(stray, ", ")))
	}
	return nil
}

// pushedEndpoint checks that name is a configured endpoint that takes pushes, for what.
func (s *Server) pushedEndpoint(r *http.Request, cfg *config.Config, name, what string) error {
	if name == "" {
		return errBadRequest(what + " needs the endpoint to try")
	}
	e := cfg.Endpoint(name)
	switch {
	case e == nil: // the name as the client sent it, unscrubbed (echo.go: no oracle)
		return errNotFound("endpoint " + s.echo(r, name) + " is not configured")
	}
	if why := s.opts.Agent.Pulled(name); why != "" {
		return errBadRequest("endpoint " + why + ", so there is nothing to " + what)
	}
	return nil
}

// retryPage is the endpoints page's "Try again now" button: one connection attempt to a codec
// now, and a page saying how it went. Only a form on this status page may press it: a login
// attempt a foreign web page could trigger again and again would lock the codec's account.
func (s *Server) retryPage(r *http.Request) (*page, error) {
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		return nil, httpError{http.StatusForbidden, "the retry button works only from this status page"}
	}
	name := r.PathValue("name")
	cfg := s.opts.Agent.Config()
	if cfg == nil {
		return nil, httpError{http.StatusServiceUnavailable, "the agent has no configuration loaded yet; try again in a moment"}
	}
	if err := s.pushedEndpoint(r, cfg, name, "retry"); err != nil {
		return nil, err
	}
	res, err := s.opts.Agent.Retry(r.Context(), name)
	if err != nil {
		return nil, actionError("retry", err)
	}
	return &page{name: "retry", Title: "Retry " + name, Nav: "endpoints",
		Body: retryBody{Result: res, Text: res.RetrySentence(s.opts.Location)}}, nil
}

type retryBody struct {
	Result EndpointResult
	Text   string
}

func actionError(what string, err error) error {
	if errors.Is(err, ErrNotFound) {
		return httpError{http.StatusNotFound, err.Error()}
	}
	return httpError{http.StatusInternalServerError, what + " failed: " + err.Error()}
}

func roomConfigured(cfg *config.Config, room string) bool {
	if cfg == nil {
		return false
	}
	for _, r := range cfg.Rooms() {
		if r.Mailbox == room {
			return true
		}
	}
	return false
}

func cmp(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
