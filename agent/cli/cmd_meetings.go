package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/web"
)

type meetingsFlags struct {
	opFlags
	days *int
}

func init() {
	register(&command{
		name:    "meetings",
		args:    "[--config FILE] [--days N] [--json] [ROOM]",
		summary: "list the meetings of one room or every room, with join address and the rule that found it",
		help: `Lists today's meetings (with --days N, today's and the next N-1 days') of ROOM, or of every
room: time, subject, whether the room shows a Join button, the address it dials, protocol and
platform, and the matched rule or the reason there is no Join button. Reads the running
agent's API, or the store directly (read-only) when the agent is not running.`,
		flags: func(fs *flag.FlagSet) any {
			return &meetingsFlags{opFlags: addOpFlags(fs), days: fs.Int("days", 1, "how many days, from today")}
		},
		run: func(ctx context.Context, stdio IO, opts any, args []string) error {
			f := opts.(*meetingsFlags)
			if len(args) > 1 {
				return usagef("give at most one room: %v", args)
			}
			if *f.days < 1 || *f.days > 366 {
				return usagef("--days must be from 1 to 366")
			}
			room := ""
			if len(args) == 1 {
				room = strings.ToLower(strings.TrimSpace(args[0]))
			}
			cfg, err := loadConfig(*f.config, stdio)
			if err != nil {
				return err
			}
			s, err := openSite(ctx, cfg)
			if err != nil {
				return err
			}
			defer s.close()
			ct := newClockTimes()
			n := ct.now.In(ct.loc)
			from := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, ct.loc)
			to := from.AddDate(0, 0, *f.days)
			ms, err := s.read.Meetings(ctx, room, from, to)
			if err != nil {
				return notFoundIsExit(err, "room "+room+" is not configured (otj-edge rooms lists them)")
			}
			fmt.Fprintf(stdio.Stderr, "otj-edge meetings: %s\n", s.info)
			if *f.json {
				return writeJSON(stdio.Stdout, struct {
					Source   sourceInfo    `json:"source"`
					From     time.Time     `json:"from"`
					To       time.Time     `json:"to"`
					Meetings []web.Meeting `json:"meetings"`
				}{s.info, from, to, ms})
			}
			if len(ms) == 0 {
				what := "any room"
				if room != "" {
					what = room
				}
				fmt.Fprintf(stdio.Stdout, "No meetings in %s from %s to %s.\n", what, ct.when(from), ct.when(to))
				return nil
			}
			tw := table(stdio.Stdout)
			head := "WHEN\tSTATE\tSUBJECT\tJOIN\tPLATFORM\tRULE / REASON"
			if room == "" {
				head = "WHEN\tROOM\tSTATE\tSUBJECT\tJOIN\tPLATFORM\tRULE / REASON"
			}
			fmt.Fprintln(tw, head)
			for _, m := range ms {
				join := "no Join"
				if m.Join {
					join = m.Number
				}
				platform := m.Platform
				if m.Protocol != "" {
					platform = m.Protocol + " " + m.Platform
				}
				why := m.Rule
				if m.Reason != "" {
					why = strings.TrimSpace(why + " " + m.Reason)
				}
				cells := []string{ct.span(m.Start, m.End), m.State, clip(m.Subject, 36), join, dash(strings.TrimSpace(platform)), dash(clip(why, 60))}
				if room == "" {
					cells = append(cells[:1], append([]string{m.Room}, cells[1:]...)...)
				}
				fmt.Fprintln(tw, strings.Join(cells, "\t"))
			}
			return tw.Flush()
		},
	})
}

// notFoundIsExit turns a "not found" answer into a plain message (exit 1).
func notFoundIsExit(err error, msg string) error {
	if isNotFound(err) {
		return exitError{code: ExitFailure, err: fmt.Errorf("%s", msg)}
	}
	return err
}
