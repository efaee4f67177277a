package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/rules"
)

type rulesFlags struct {
	config, profile, event, text, subject, location, room string
}

// define declares the `rules test` flags on fs. Defaults are the current values, so flags
// given before "test" survive the second parse of the flags after it.
func (f *rulesFlags) define(fs *flag.FlagSet) {
	if f.config == "" {
		f.config = config.DefaultPath()
	}
	fs.StringVar(&f.config, "config", f.config, "configuration `file`")
	fs.StringVar(&f.profile, "profile", f.profile, "profile whose settings and rules apply (default: the only one)")
	fs.StringVar(&f.event, "event", f.event, "an event in Microsoft Graph JSON (as GET /users/{room}/events/{id} returns it)")
	fs.StringVar(&f.text, "text", f.text, "raw invite text or HTML, used as the body of a meeting starting in an hour")
	fs.StringVar(&f.subject, "subject", f.subject, "subject of the --text meeting")
	fs.StringVar(&f.location, "location", f.location, "location of the --text meeting")
	fs.StringVar(&f.room, "room", f.room, "room mailbox (default: the first room that uses the profile)")
}

func init() {
	register(&command{
		name:    "rules",
		args:    "test [--config FILE] [--profile P] (--event EVENT.json | --text FILE)",
		summary: "show what a profile's meeting processing rules make of an invite",
		help: `rules test resolves one invite with a profile's settings and rules, exactly as the agent
does, and prints one JSON object: rule, platform, protocol, number, join, subject, reason,
shown and status, the times (with the buffers), and "tried": what every rule found.

The invite is either an event in Microsoft Graph JSON (--event; a Graph list response with
one event in "value" also works) or raw invite text or HTML (--text), which becomes the body
of a meeting starting in an hour. The upcoming_days window does not apply here.

Exit 0 when the input was understood (whether or not a rule matched), 2 when the config or
the input is wrong, with a message saying what and where. Secrets are not needed: a ${ENV}
variable that is not set or a secret file that cannot be read is not an error here.`,
		flags: func(fs *flag.FlagSet) any {
			f := &rulesFlags{}
			f.define(fs)
			return f
		},
		run: func(ctx context.Context, stdio IO, opts any, args []string) error {
			f := opts.(*rulesFlags)
			if len(args) == 0 || args[0] != "test" {
				return usagef("missing subcommand: use otj-edge rules test (see otj-edge rules --help)")
			}
			fs := flag.NewFlagSet("otj-edge rules test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			f.define(fs)
			if err := fs.Parse(args[1:]); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					printCommandHelp(stdio.Stdout, commands["rules"], fs)
					return nil
				}
				return usagef("%s", err)
			}
			if fs.NArg() > 0 {
				return usagef("unexpected arguments: %v", fs.Args())
			}
			return rulesTest(stdio, f)
		},
	})
}

func rulesTest(stdio IO, f *rulesFlags) error {
	if (f.event == "") == (f.text == "") {
		return usagef("give exactly one of --event EVENT.json or --text FILE")
	}
	if f.event != "" && (f.subject != "" || f.location != "") {
		return usagef("--subject and --location go with --text; an --event has its own")
	}
	// Rules need no secrets: the example config, or a copy of a site's config on a laptop,
	// is usable without its ${ENV} variables or root-only secret files.
	cfg, err := config.LoadWith(f.config, config.Options{LookupEnv: stdio.Env, SkipSecrets: true})
	if err != nil {
		return err
	}
	prof, err := pickProfile(cfg, f.profile)
	if err != nil {
		return err
	}
	compiled, err := prof.Compile()
	if err != nil {
		return fmt.Errorf("compile profile %q: %w", prof.Name, err)
	}
	room := strings.ToLower(f.room)
	if room == "" {
		for _, r := range cfg.Rooms() {
			if r.Profile == prof.Name {
				room = r.Mailbox
				break
			}
		}
	}
	var ev calendar.Event
	if f.event != "" {
		ev, err = readEventFile(f.event)
	} else {
		ev, err = textEvent(f.text, f.subject, f.location, time.Now())
	}
	if err != nil {
		return usagef("%s", err)
	}
	// The zero clock: no upcoming_days window, the invite is judged on its content.
	m, d := compiled.Explain(room, ev, time.Time{})
	enc := json.NewEncoder(stdio.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(rules.NewReport(m, d))
}

// pickProfile returns the named profile, or the only one.
func pickProfile(cfg *config.Config, name string) (*config.Profile, error) {
	var names []string
	for _, p := range cfg.Profiles {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	if name == "" {
		if len(cfg.Profiles) == 1 {
			return &cfg.Profiles[0], nil
		}
		return nil, usagef("--profile is required: %s has %d profiles (%s)", cfg.File, len(names), strings.Join(names, ", "))
	}
	if p := cfg.Profile(name); p != nil {
		return p, nil
	}
	return nil, usagef("profile %q is not defined in %s (profiles: %s)", name, cfg.File, strings.Join(names, ", "))
}

// maxEventFile bounds what rules test reads (an event with inline images is a few MB).
const maxEventFile = 64 << 20

func readInput(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, errors.Unwrap(err))
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxEventFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxEventFile {
		return nil, fmt.Errorf("%s is larger than %d MiB", path, maxEventFile>>20)
	}
	return data, nil
}

// readEventFile decodes a Graph event (or a Graph list response holding one), with errors that
// point at the line and column.
func readEventFile(path string) (calendar.Event, error) {
	data, err := readInput(path)
	if err != nil {
		return calendar.Event{}, err
	}
	var probe struct {
		Value json.RawMessage `json:"value"`
		ID    *string         `json:"id"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return calendar.Event{}, jsonError(path, data, err)
	}
	var ev calendar.Event
	if len(probe.Value) > 0 && probe.ID == nil {
		var list []json.RawMessage
		if err := json.Unmarshal(probe.Value, &list); err != nil {
			return calendar.Event{}, fmt.Errorf("%s: \"value\" is not a list of events", path)
		}
		if len(list) != 1 {
			return calendar.Event{}, fmt.Errorf("%s: \"value\" holds %d events; rules test takes one", path, len(list))
		}
		data = list[0]
		if err := json.Unmarshal(data, &ev); err != nil {
			return calendar.Event{}, fmt.Errorf("%s: value[0]: %s", path, describeJSONError(err))
		}
	} else if err := json.Unmarshal(data, &ev); err != nil {
		return calendar.Event{}, jsonError(path, data, err)
	}
	if ev.Start == nil || strings.TrimSpace(ev.Start.DateTime) == "" {
		return calendar.Event{}, fmt.Errorf("%s: the event has no start (start.dateTime)", path)
	}
	if ev.End == nil || strings.TrimSpace(ev.End.DateTime) == "" {
		return calendar.Event{}, fmt.Errorf("%s: the event has no end (end.dateTime)", path)
	}
	if _, err := ev.Start.Time(); err != nil {
		return calendar.Event{}, fmt.Errorf("%s: start: %s", path, err)
	}
	if _, err := ev.End.Time(); err != nil {
		return calendar.Event{}, fmt.Errorf("%s: end: %s", path, err)
	}
	if ev.ID == "" {
		ev.ID = "rules-test"
	}
	return ev, nil
}

// jsonError names the place of a JSON error as FILE:LINE:COLUMN.
func jsonError(path string, data []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 {
		return fmt.Errorf("%s: %s", path, describeJSONError(err))
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	if col < 1 {
		col = 1
	}
	return fmt.Errorf("%s:%d:%d: %s", path, line, col, describeJSONError(err))
}

func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("%s: a JSON %s where %s belongs", te.Field, te.Value, jsonKind(te.Type.Kind().String()))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "not valid JSON: " + se.Error()
	}
	return err.Error()
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "struct", "map":
		return "an object"
	case "slice":
		return "a list"
	}
	return "a " + k
}

// textEvent makes a meeting from raw invite text or HTML, starting at the next full hour.
func textEvent(path, subject, location string, now time.Time) (calendar.Event, error) {
	data, err := readInput(path)
	if err != nil {
		return calendar.Event{}, err
	}
	start := now.UTC().Truncate(time.Hour).Add(time.Hour)
	if subject == "" {
		subject = filepath.Base(path)
	}
	body := string(data)
	ev := calendar.Event{
		ID: "rules-test", Subject: subject,
		Body:  &calendar.ItemBody{Content: body, ContentType: "text"},
		Start: calendar.FromTime(start), End: calendar.FromTime(start.Add(time.Hour)),
	}
	if rules.LooksLikeHTML(body) {
		ev.Body.ContentType = "html"
	}
	if location != "" {
		ev.Location = &calendar.Location{DisplayName: location}
	}
	return ev, nil
}
