package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// Formats of a pasted invite on the rules test bench.
const (
	FormatAuto = "auto" // JSON when it starts with "{", HTML when it has tags, text otherwise
	FormatText = "text"
	FormatHTML = "html"
	FormatJSON = "json" // a Microsoft Graph event
)

// RulesInput is an invite pasted on the rules test bench or sent to the rules-test action.
type RulesInput struct {
	Profile string
	Format  string
	// Invite is the invite's body (text or HTML) or a whole Graph event as JSON.
	Invite string
	// Subject and Location apply to a text or HTML body.
	Subject  string
	Location string
}

var htmlTag = regexp.MustCompile(`(?i)<(html|body|div|p|a|br|span|table|meta)\b`)

// format resolves "auto".
func (in RulesInput) format() string {
	f := strings.ToLower(strings.TrimSpace(in.Format))
	if f != "" && f != FormatAuto {
		return f
	}
	trimmed := strings.TrimSpace(in.Invite)
	switch {
	case strings.HasPrefix(trimmed, "{"):
		return FormatJSON
	case htmlTag.MatchString(trimmed):
		return FormatHTML
	}
	return FormatText
}

// Event makes the calendar event the rules run over. A text or HTML invite becomes the body
// of a one-hour meeting starting at the next full hour; a Graph event without a start or end
// gets the same times, so a pasted fragment still works.
func (in RulesInput) Event(now time.Time) (calendar.Event, error) {
	start := now.UTC().Truncate(time.Hour).Add(time.Hour)
	var ev calendar.Event
	switch f := in.format(); f {
	case FormatJSON:
		dec := json.NewDecoder(strings.NewReader(in.Invite))
		if err := dec.Decode(&ev); err != nil {
			return ev, fmt.Errorf("the invite is not a Microsoft Graph event in JSON: %s", jsonErrorAt(in.Invite, err))
		}
		if in.Subject != "" {
			ev.Subject = in.Subject
		}
		if in.Location != "" {
			ev.Location = &calendar.Location{DisplayName: in.Location}
		}
	case FormatText, FormatHTML:
		if strings.TrimSpace(in.Invite) == "" && in.Location == "" {
			return ev, errors.New("paste an invite: its text, its HTML, or the Graph event as JSON")
		}
		ev = calendar.Event{
			Subject:   in.Subject,
			Body:      &calendar.ItemBody{ContentType: f, Content: in.Invite},
			Organizer: &calendar.Recipient{EmailAddress: calendar.EmailAddress{Name: "Rules Test", Address: "rules-test@otj-edge.invalid"}},
			ShowAs:    "busy",
			Type:      calendar.TypeSingleInstance,
		}
		if in.Location != "" {
			ev.Location = &calendar.Location{DisplayName: in.Location}
		}
	default:
		return ev, fmt.Errorf("format %q is not one of auto, text, html, json", in.Format)
	}
	if ev.ID == "" {
		ev.ID = "rules-test"
	}
	if ev.Start == nil {
		ev.Start = calendar.FromTime(start)
	}
	if ev.End == nil {
		s, err := ev.StartTime()
		if err != nil {
			return ev, fmt.Errorf("the event's start: %w", err)
		}
		ev.End = calendar.FromTime(s.Add(time.Hour))
	}
	if _, err := ev.StartTime(); err != nil {
		return ev, fmt.Errorf("the event's start: %w", err)
	}
	if _, err := ev.EndTime(); err != nil {
		return ev, fmt.Errorf("the event's end: %w", err)
	}
	return ev, nil
}

// jsonErrorAt adds the line and column to a JSON syntax error.
func jsonErrorAt(doc string, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count([]byte(doc[:min(int(se.Offset), len(doc))]), []byte("\n"))
		col := int(se.Offset) - strings.LastIndex(doc[:min(int(se.Offset), len(doc))], "\n") - 1
		return fmt.Sprintf("line %d, column %d: %v", line, col, err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q: %v", te.Field, err)
	}
	return err.Error()
}

// rulesOutcome is a rules test's result and the profile that produced it.
type rulesOutcome struct {
	Profile string
	Format  string
	Event   calendar.Event
	Result  RulesResult
}

// rulesTest checks the input and the profile, then asks the agent.
func (s *Server) rulesTest(ctx context.Context, cfg *config.Config, in RulesInput) (rulesOutcome, error) {
	profile, err := pickProfile(cfg, in.Profile)
	if err != nil {
		return rulesOutcome{}, err
	}
	ev, err := in.Event(s.clock.Now())
	if err != nil {
		return rulesOutcome{}, errBadRequest(err.Error())
	}
	res, err := s.opts.Agent.RulesTest(ctx, profile, ev)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return rulesOutcome{}, errNotFound(err.Error())
		}
		return rulesOutcome{}, errBadRequest("rules test: " + err.Error())
	}
	return rulesOutcome{Profile: profile, Format: in.format(), Event: ev, Result: res}, nil
}

// pickProfile resolves the profile to test: the named one, or the only one.
func pickProfile(cfg *config.Config, name string) (string, error) {
	var names []string
	if cfg != nil {
		for _, p := range cfg.Profiles {
			names = append(names, p.Name)
		}
	}
	switch {
	case name != "" && cfg != nil && cfg.Profile(name) != nil:
		return name, nil
	case name != "":
		return "", errNotFound(fmt.Sprintf("profile %q is not configured (there are: %s)", name, strings.Join(names, ", ")))
	case len(names) == 1:
		return names[0], nil
	case len(names) == 0:
		return "", errBadRequest("no profiles are configured")
	}
	return "", errBadRequest("name a profile: one of " + strings.Join(names, ", "))
}
