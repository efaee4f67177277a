package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/store"
)

func init() {
	register(&command{
		name:    "doctor",
		args:    "[--config FILE] [--json]",
		summary: "what needs fixing, grouped by cause and worst first, with what to do and the exact commands",
		help: `Prints everything that needs an operator, each problem once, grouped by cause (19 rooms
failing with the same Graph error are one problem, as are codecs failing the same way) and
sorted by the number of rooms affected: rooms that do not sync, room mailboxes whose calendar
processing breaks invites, endpoint alarms, and (from the running agent) unhealthy components,
each with advice for that device type and error and the commands that check or fix it. Notes
that need judgement rather than a fix (a room that may decline external invites) follow.
The calendar-processing fixes are repeated at the end as one block to paste into Exchange
Online PowerShell: one Set-CalendarProcessing per room, with only the settings that are wrong.
Exit 0 when nothing needs attention, 1 otherwise. Reads the running agent's API, or the store
directly (read-only) when the agent is not running.`,
		flags: func(fs *flag.FlagSet) any { f := addOpFlags(fs); return &f },
		run: func(ctx context.Context, stdio IO, opts any, args []string) error {
			f := opts.(*opFlags)
			if len(args) > 0 {
				return usagef("unexpected arguments: %v", args)
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
			rep, err := diagnose(ctx, s, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdio.Stderr, "otj-edge doctor: %s\n", s.info)
			if *f.json {
				if err := writeJSON(stdio.Stdout, rep); err != nil {
					return err
				}
			} else {
				printDoctor(stdio.Stdout, rep, newClockTimes())
			}
			if rep.Problems > 0 {
				return exitError{code: ExitFailure}
			}
			return nil
		},
	})
}

// doctorReport is what `otj-edge doctor --json` prints.
type doctorReport struct {
	Source sourceInfo `json:"source"`
	// Problems counts what needs an operator: the entries of Groups that are not notes. Rooms
	// or endpoints failing the same way are one problem, and an endpoint or room the running
	// agent's health also reports is not counted again.
	Problems int `json:"problems"`
	// Groups is what needs attention grouped by cause, worst first (the most rooms affected),
	// then the notes (level info).
	Groups []web.Problem `json:"groups"`
	// Fixes is the calendar-processing paste block: one Set-CalendarProcessing per room with
	// only the settings that are wrong (never the informational ProcessExternalMeetingMessages).
	Fixes     []string       `json:"fixes"`
	Rooms     []web.Room     `json:"rooms"`     // rooms needing attention
	Waiting   []string       `json:"waiting"`   // rooms waiting for a first sync
	Endpoints []web.Endpoint `json:"endpoints"` // endpoints with alarms
	Health    []health.Item  `json:"health"`    // unhealthy components (running agent only)
	Checked   struct {
		Rooms     int `json:"rooms"`
		Endpoints int `json:"endpoints"`
	} `json:"checked"`
	// Affected counts the rooms the problems affect, each once.
	Affected int `json:"affected_rooms"`
}

func diagnose(ctx context.Context, s *site, cfg *config.Config) (doctorReport, error) {
	rep := doctorReport{Source: s.info, Groups: []web.Problem{}, Fixes: []string{}, Rooms: []web.Room{}, Waiting: []string{},
		Endpoints: []web.Endpoint{}, Health: []health.Item{}}
	rooms, err := s.read.Rooms(ctx)
	if err != nil {
		return rep, err
	}
	eps, err := s.read.Endpoints(ctx)
	if err != nil {
		return rep, err
	}
	rep.Checked.Rooms, rep.Checked.Endpoints = len(rooms), len(eps)
	for _, r := range rooms {
		switch {
		case r.Status == store.RoomPending && len(r.Diagnosis) == 0:
			rep.Waiting = append(rep.Waiting, r.Mailbox)
		case r.Status != store.RoomOK || len(r.Diagnosis) > 0:
			rep.Rooms = append(rep.Rooms, r)
		}
		if fix := web.CalendarProcessingFix(r.Mailbox, r.Diagnosis); fix != "" {
			rep.Fixes = append(rep.Fixes, fix)
		}
	}
	for _, e := range eps {
		if len(e.Alarms) > 0 {
			rep.Endpoints = append(rep.Endpoints, e)
		}
	}
	var items []health.Item
	if s.client != nil {
		h, err := s.client.Health(ctx)
		if err != nil {
			return rep, err
		}
		items = h.Items
	}
	rep.Groups = web.Problems(cfg, rooms, eps, items)
	rep.Problems = web.Counted(rep.Groups)
	affected := map[string]bool{}
	for _, p := range rep.Groups {
		if p.Level == "info" {
			continue
		}
		if p.Kind == "component" {
			rep.Health = append(rep.Health, health.Item{Component: p.Members[0].Name, Level: p.Level, Message: p.Detail, Since: p.Since})
		}
		for _, m := range p.Members {
			if m.Room != "" {
				affected[m.Room] = true
			}
		}
	}
	rep.Affected = len(affected)
	return rep, nil
}

// printDoctor writes the report for a person: each problem once, worst first, with what to
// do; then the notes; then the calendar-processing paste block. Its counts are the lists'.
func printDoctor(w io.Writer, rep doctorReport, ct clockTimes) {
	var problems, notes []web.Problem
	for _, p := range rep.Groups {
		if p.Level == "info" {
			notes = append(notes, p)
		} else {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		fmt.Fprintf(w, "Needs attention (%d), the most rooms affected first\n\n", len(problems))
		for i, p := range problems {
			printProblem(w, fmt.Sprintf("%d. ", i+1), p, ct)
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "Notes (%d), to judge rather than fix\n\n", len(notes))
		for _, p := range notes {
			printProblem(w, "- ", p, ct)
		}
	}
	if len(rep.Waiting) > 0 {
		fmt.Fprintf(w, "Waiting for a first sync (%d): %s\n\n", len(rep.Waiting), strings.Join(rep.Waiting, ", "))
	}
	if len(rep.Fixes) > 0 {
		fmt.Fprintf(w, "Calendar-processing fixes (%d %s), to paste into Exchange Online PowerShell (after Connect-ExchangeOnline):\n\n",
			len(rep.Fixes), map[bool]string{true: "room", false: "rooms"}[len(rep.Fixes) == 1])
		for _, f := range rep.Fixes {
			fmt.Fprintln(w, f)
		}
		fmt.Fprintln(w)
	}
	if rep.Problems == 0 {
		fmt.Fprintf(w, "Nothing needs attention: %d rooms and %d endpoints checked.\n", rep.Checked.Rooms, rep.Checked.Endpoints)
		return
	}
	fmt.Fprintf(w, "%d problem%s need%s attention, affecting %d of %d rooms (%d endpoints checked).\n", rep.Problems,
		map[bool]string{true: "", false: "s"}[rep.Problems == 1], map[bool]string{true: "s", false: ""}[rep.Problems == 1],
		rep.Affected, rep.Checked.Rooms, rep.Checked.Endpoints)
}

// printProblem writes one problem: its line, its detail, what to do and the commands, and who
// it affects (in full: a terminal has no "show more").
func printProblem(w io.Writer, bullet string, p web.Problem, ct clockTimes) {
	line := bullet + p.Summary
	if !p.Since.IsZero() {
		line += " since " + ct.when(p.Since)
	}
	fmt.Fprintf(w, "%s [%s]\n", line, p.Level)
	indent := strings.Repeat(" ", len(bullet))
	if p.Detail != "" {
		state := ""
		if p.State != "" {
			state = p.State + ": "
		}
		fmt.Fprint(w, wrap(state+p.Detail, indent, 100))
	}
	if p.Advice != "" {
		fmt.Fprint(w, wrap(p.Advice, indent, 100))
	}
	if p.Kind == "mailbox" && p.Command != "" {
		// Listed once, in the paste block at the end.
		fmt.Fprintln(w, indent+"  (the Set-CalendarProcessing commands are in the paste block at the end)")
	} else {
		for _, c := range strings.Split(p.Command, "\n") {
			if c != "" {
				fmt.Fprintln(w, indent+"  "+c)
			}
		}
	}
	if len(p.Members) > 1 {
		fmt.Fprintf(w, "%sAffected (%d):\n", indent, len(p.Members))
		var names []string
		own := false // a member with its own detail gets its own line
		for _, m := range p.Members {
			name := m.Name
			if m.Room != "" && m.Room != m.Name {
				name += " (" + m.Room + ")"
			}
			if m.Detail != "" && m.Detail != p.Detail {
				name += ": " + m.Detail
				own = true
			}
			names = append(names, name)
		}
		if own {
			for _, n := range names {
				fmt.Fprintln(w, indent+"  "+n)
			}
		} else {
			fmt.Fprint(w, wrap(strings.Join(names, ", "), indent+"  ", 100))
		}
	}
	fmt.Fprintln(w)
}

// wrap breaks text into lines of at most width columns (a longer word keeps its own line),
// each starting with indent.
func wrap(text, indent string, width int) string {
	var b strings.Builder
	line := indent
	for _, word := range strings.Fields(text) {
		if line != indent && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if line != indent {
			line += " "
		}
		line += word
	}
	if line != indent {
		b.WriteString(line + "\n")
	}
	return b.String()
}
