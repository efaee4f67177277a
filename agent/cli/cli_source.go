package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/store"
)

// The operator commands (rooms, meetings, sync, push, doctor, reload) talk to the running
// agent's API on this machine: its address is status.listen, and its action token is the file
// the agent writes to the state directory when it starts. The read-only ones fall back to
// reading the store directly when the agent is not running.

// siteReader is what the read-only commands need; the API client and a store reader both
// provide it.
type siteReader interface {
	Rooms(ctx context.Context) ([]web.Room, error)
	Room(ctx context.Context, mailbox string) (web.RoomDetail, error)
	Meetings(ctx context.Context, room string, from, to time.Time) ([]web.Meeting, error)
	Endpoints(ctx context.Context) ([]web.Endpoint, error)
}

// sourceInfo says where a command's data came from.
type sourceInfo struct {
	Kind  string `json:"kind"`  // "agent" or "store"
	Where string `json:"where"` // the agent's URL or the store's path
	Note  string `json:"note,omitempty"`
}

func (s sourceInfo) String() string {
	if s.Kind == "agent" {
		return "from the running agent at " + s.Where
	}
	return "from the store at " + s.Where + " (read-only: " + s.Note + ")"
}

// site is an open source of data for a command.
type site struct {
	read   siteReader
	client *web.Client // set when the agent is running
	info   sourceInfo
	close  func()
}

// notRunning says why the agent could not be reached.
type notRunning struct{ why string }

func (e *notRunning) Error() string { return "the agent is not running: " + e.why }

// connectAgent finds the running agent: its token file, then an answer at its address. A
// *notRunning error means there is no agent to talk to; any other error is a real problem
// (an unreadable token file, a token refused).
func connectAgent(ctx context.Context, cfg *config.Config) (*web.Client, error) {
	if cfg.Status.Listen == "" {
		return nil, &notRunning{"its status API is off (status.listen: off in " + cfg.File + ")"}
	}
	base, err := web.ClientURL(cfg.Status.Listen)
	if err != nil {
		return nil, err
	}
	path := web.TokenPath(cfg.StateDir)
	token, err := web.ReadToken(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &notRunning{"no " + path + " (the agent writes it when it starts)"}
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("cannot read the agent's token %s: permission denied; run this as the user the service runs as, or with sudo", path)
	case err != nil:
		return nil, fmt.Errorf("read the agent's token: %w", err)
	}
	c := &web.Client{BaseURL: base, Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
	probe, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = c.Health(probe)
	var unreachable *web.UnreachableError
	var refused *web.APIError
	switch {
	case errors.As(err, &unreachable):
		return nil, &notRunning{"nothing answers at " + base + " (" + path + " is left from an earlier run)"}
	case errors.As(err, &refused) && (refused.Code == http.StatusUnauthorized || refused.Code == http.StatusForbidden):
		return nil, fmt.Errorf("the agent at %s refused the token in %s: is another program using that address?", base, path)
	case err != nil:
		return nil, fmt.Errorf("ask the agent at %s: %w", base, err)
	}
	return c, nil
}

// openSite connects to the running agent, or opens the store read-only when it is not running.
func openSite(ctx context.Context, cfg *config.Config) (*site, error) {
	c, err := connectAgent(ctx, cfg)
	if err == nil {
		return &site{read: c, client: c, info: sourceInfo{Kind: "agent", Where: c.BaseURL}, close: func() {}}, nil
	}
	var nr *notRunning
	if !errors.As(err, &nr) {
		return nil, err
	}
	st, serr := store.Open(ctx, cfg.DBPath(), store.Options{ReadOnly: true})
	if serr != nil {
		return nil, fmt.Errorf("%s, and its store cannot be read: %w", nr.Error(), serr)
	}
	rd := &web.Reader{Store: st, Config: cfg, Now: time.Now(), Location: time.Local}
	return &site{read: rd, info: sourceInfo{Kind: "store", Where: st.Path(), Note: nr.Error()},
		close: func() { st.Close() }}, nil
}

// needAgent connects to the running agent for an action, or explains why it cannot (exit 1).
func needAgent(ctx context.Context, cfg *config.Config, command string) (*web.Client, error) {
	c, err := connectAgent(ctx, cfg)
	var nr *notRunning
	if errors.As(err, &nr) {
		return nil, exitError{code: ExitFailure, err: fmt.Errorf("%s. %s needs the running agent: start it with 'otj-edge service start' (or 'otj-edge run')", nr.Error(), command)}
	}
	return c, err
}

// actionError turns an API error answer into the command's error.
func actionFailed(err error) error {
	var ae *web.APIError
	if errors.As(err, &ae) {
		return exitError{code: ExitFailure, err: errors.New(ae.Message)}
	}
	return err
}

// opFlags are the flags every operator command shares.
type opFlags struct {
	config *string
	json   *bool
}

func addOpFlags(fs *flag.FlagSet) opFlags {
	return opFlags{config: configFlag(fs), json: fs.Bool("json", false, "print JSON for scripts instead of a table")}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns.
func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// clip shortens s to n runes with an ellipsis.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// dash shows "-" for an empty cell.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clockTimes formats times for the terminal, in the machine's time zone.
type clockTimes struct {
	now time.Time
	loc *time.Location
}

func newClockTimes() clockTimes { return clockTimes{now: time.Now(), loc: time.Local} }

func (c clockTimes) sameDay(a, b time.Time) bool {
	a, b = a.In(c.loc), b.In(c.loc)
	return a.Year() == b.Year() && a.YearDay() == b.YearDay()
}

// when is "15:04" today and "Tue 10 Mar 15:04" on other days.
func (c clockTimes) when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	if c.sameDay(t, c.now) {
		return t.In(c.loc).Format("15:04")
	}
	return t.In(c.loc).Format("Mon 2 Jan 15:04")
}

// span is a meeting's time.
func (c clockTimes) span(start, end time.Time) string {
	return c.when(start) + "-" + end.In(c.loc).Format("15:04")
}

// ago is "3 minutes ago" or "never".
func (c clockTimes) ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := c.now.Sub(t)
	if d < 0 {
		return "in " + web.HumanDuration(-d)
	}
	return web.HumanDuration(d) + " ago"
}

// meetingLine is a one-line summary of a meeting: "09:30-10:30 Project Falcon (MicrosoftTeams)".
func (c clockTimes) meetingLine(m *web.Meeting) string {
	if m == nil {
		return ""
	}
	how := m.Platform
	if !m.Join {
		how = "no Join"
	}
	return c.span(m.Start, m.End) + " " + clip(m.Subject, 30) + " (" + dash(how) + ")"
}

// isNotFound reports a "not found" from either source.
func isNotFound(err error) bool {
	var ae *web.APIError
	return errors.Is(err, web.ErrNotFound) || (errors.As(err, &ae) && ae.Code == http.StatusNotFound)
}
