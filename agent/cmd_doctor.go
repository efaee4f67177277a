package agent

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/store"
)

func init() {
	register(&command{
		name:    "doctor",
		args:    "[--config FILE] [--json]",
		summary: "what needs fixing: room diagnosis with the exact fix commands, sync problems, endpoint alarms",
		help: `Prints everything that needs an operator: every room's calendar-processing diagnosis with
the exact Set-CalendarProcessing command that fixes it, rooms that do not sync with what to
do, endpoint alarms with their fix, and (from the running agent) unhealthy components. The
fix commands are repeated at the end as one block to paste into Exchange Online PowerShell.
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
			rep, err := diagnose(ctx, s)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdio.Stderr, "otj-edge doctor: %s\n", s.info)
			if *f.json {
				if err := writeJSON(stdio.Stdout, rep); err != nil {
					return err
				}
			} else {
				printDoctor(stdio.Stdout, rep)
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
	// Problems counts what needs an operator: rooms that do not sync or whose mailbox
	// settings are wrong, endpoints with alarms, unhealthy components not already counted.
	Problems  int            `json:"problems"`
	Rooms     []web.Room     `json:"rooms"`     // rooms needing attention
	Waiting   []string       `json:"waiting"`   // rooms waiting for a first sync
	Endpoints []web.Endpoint `json:"endpoints"` // endpoints with alarms
	Health    []health.Item  `json:"health"`    // unhealthy components (running agent only)
	Checked   struct {
		Rooms     int `json:"rooms"`
		Endpoints int `json:"endpoints"`
	} `json:"checked"`
}

func diagnose(ctx context.Context, s *site) (doctorReport, error) {
	rep := doctorReport{Source: s.info, Rooms: []web.Room{}, Waiting: []string{}, Endpoints: []web.Endpoint{}, Health: []health.Item{}}
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
	}
	endpointComponents := map[string]bool{}
	for _, e := range eps {
		endpointComponents[e.Type+"/"+e.Name] = true
		if len(e.Alarms) > 0 {
			rep.Endpoints = append(rep.Endpoints, e)
		}
	}
	rep.Problems = len(rep.Rooms) + len(rep.Endpoints)
	if s.client != nil {
		h, err := s.client.Health(ctx)
		if err != nil {
			return rep, err
		}
		for _, it := range h.Items {
			if it.Level == health.OK {
				continue
			}
			rep.Health = append(rep.Health, it)
			if !endpointComponents[it.Component] {
				rep.Problems++
			}
		}
	}
	return rep, nil
}

func printDoctor(w io.Writer, rep doctorReport) {
	var fixes []string
	if len(rep.Rooms) > 0 {
		fmt.Fprintln(w, "Rooms")
		for _, r := range rep.Rooms {
			if r.Status != store.RoomOK {
				line := "  " + r.Mailbox + ": " + r.Status
				if r.Detail != "" {
					line += ": " + r.Detail
				}
				fmt.Fprintln(w, line)
				if r.Advice != "" {
					fmt.Fprintln(w, "    "+r.Advice)
				}
				if r.AdviceCommand != "" {
					fmt.Fprintln(w, "      "+r.AdviceCommand)
				}
			}
			for _, d := range r.Diagnosis {
				fmt.Fprintf(w, "  %s: %s: %s\n", r.Mailbox, d.Flag, d.Detail)
				if d.Fix != "" {
					fmt.Fprintln(w, "      "+d.Fix)
					fixes = append(fixes, d.Fix)
				}
			}
		}
		fmt.Fprintln(w)
	}
	if len(rep.Endpoints) > 0 {
		fmt.Fprintln(w, "Endpoints")
		for _, e := range rep.Endpoints {
			for _, a := range e.Alarms {
				fmt.Fprintf(w, "  %s (%s, %s): %s: %s\n", e.Name, e.Type, e.Room, e.State, a.Message)
				if a.Advice != "" {
					fmt.Fprintln(w, "    "+a.Advice)
				}
				if a.Command != "" {
					fmt.Fprintln(w, "      "+a.Command)
				}
			}
		}
		fmt.Fprintln(w)
	}
	if len(rep.Health) > 0 {
		fmt.Fprintln(w, "Health (running agent)")
		for _, it := range rep.Health {
			fmt.Fprintf(w, "  %-7s %s: %s\n", it.Level, it.Component, it.Message)
		}
		fmt.Fprintln(w)
	}
	if len(rep.Waiting) > 0 {
		fmt.Fprintf(w, "Waiting for a first sync: %s\n\n", strings.Join(rep.Waiting, ", "))
	}
	if len(fixes) > 0 {
		fmt.Fprintln(w, "Calendar-processing fixes, to paste into Exchange Online PowerShell (after Connect-ExchangeOnline):")
		fmt.Fprintln(w)
		for _, f := range fixes {
			fmt.Fprintln(w, f)
		}
		fmt.Fprintln(w)
	}
	if rep.Problems == 0 {
		fmt.Fprintf(w, "Nothing needs attention: %d rooms and %d endpoints checked.\n", rep.Checked.Rooms, rep.Checked.Endpoints)
		return
	}
	fmt.Fprintf(w, "%d problem%s need%s attention (%d rooms and %d endpoints checked).\n", rep.Problems,
		map[bool]string{true: "", false: "s"}[rep.Problems == 1], map[bool]string{true: "s", false: ""}[rep.Problems == 1],
		rep.Checked.Rooms, rep.Checked.Endpoints)
}
