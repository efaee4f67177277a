package cli

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/otj-edge/otj-edge/agent/web"
)

func init() {
	register(&command{
		name:    "rooms",
		args:    "[--config FILE] [--json] | discover INTEGRATION [--config FILE] [--json]",
		summary: "list the rooms: state, sync status, endpoints, calendar data age, today's and the next meeting; discover new ones",
		help: `Lists every room with its state at a glance (the worst of its calendar sync, its mailbox
settings and its endpoints: ok, pending, warning or error), its calendar sync status, each
endpoint's state, how old its calendar data is, how many meetings it has today, the meeting in
progress or the next one (with the reason when it gets no Join button), and its
calendar-processing flags (see 'otj-edge doctor' for the fixes). Reads the running agent's API, or the store
directly (read-only) when the agent is not running; stderr says which.` + discoverHelp,
		flags: func(fs *flag.FlagSet) any { f := addOpFlags(fs); return &f },
		run: func(ctx context.Context, stdio IO, opts any, args []string) error {
			f := opts.(*opFlags)
			if len(args) > 0 && args[0] == "discover" {
				return runRoomsDiscover(ctx, stdio, f, args[1:]) // rooms_discover.go
			}
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
			rooms, err := s.read.Rooms(ctx)
			if err != nil {
				return err
			}
			ct := newClockTimes()
			age := (&web.Reader{Now: ct.now}).DataAge(rooms)
			fmt.Fprintf(stdio.Stderr, "otj-edge rooms: %s\n", s.info)
			if *f.json {
				return writeJSON(stdio.Stdout, struct {
					Source   sourceInfo  `json:"source"`
					Calendar web.DataAge `json:"calendar"`
					Rooms    []web.Room  `json:"rooms"`
				}{s.info, age, rooms})
			}
			tw := table(stdio.Stdout)
			fmt.Fprintln(tw, "ROOM\tSTATE\tSYNC\tENDPOINTS\tDATA\tTODAY\tNOW / NEXT\tFLAGS")
			for _, r := range rooms {
				data := "never synced"
				if !r.LastSuccess.IsZero() {
					data = ct.ago(r.LastSuccess)
				}
				var next []string
				if r.Current != nil {
					next = append(next, "now "+roomMeetingLine(ct, r.Current))
				}
				if r.Next != nil {
					next = append(next, "next "+roomMeetingLine(ct, r.Next))
				}
				var flags, devices []string
				for _, d := range r.Diagnosis {
					flags = append(flags, d.Flag)
				}
				for _, d := range r.Devices {
					devices = append(devices, d.Name+" "+d.State)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Mailbox, dash(r.Overall), r.Status, dash(strings.Join(devices, ", ")), data,
					r.MeetingsToday, dash(strings.Join(next, "; ")), dash(strings.Join(flags, ",")))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			overall, sync := map[string]int{}, map[string]int{}
			for _, r := range rooms {
				overall[r.Overall]++
				sync[r.Status]++
			}
			var parts, syncParts []string
			for _, l := range []string{"ok", "pending", "warning", "error"} {
				if overall[l] > 0 {
					parts = append(parts, fmt.Sprintf("%d %s", overall[l], l))
				}
			}
			for _, st := range sortedStatuses(sync) {
				syncParts = append(syncParts, fmt.Sprintf("%d %s", sync[st], st))
			}
			fmt.Fprintf(stdio.Stdout, "\n%s · %d rooms: %s (calendar sync: %s)\n", web.Sentence(age.Text), len(rooms),
				strings.Join(parts, ", "), strings.Join(syncParts, ", "))
			return nil
		},
	})
}

// sortedStatuses lists ok first, then the rest by name.
func sortedStatuses(counts map[string]int) []string {
	var out []string
	if counts["ok"] > 0 {
		out = append(out, "ok")
	}
	var rest []string
	for k := range counts {
		if k != "ok" {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// roomMeetingLine is a meeting in the rooms list: "09:30-10:30 Project Falcon (MicrosoftTeams)",
// or with the reason it gets no Join button: "(no Join: no rule matched …)".
func roomMeetingLine(ct clockTimes, m *web.Meeting) string {
	how := dash(m.Platform)
	if !m.Join {
		how = "no Join"
		if m.Reason != "" {
			how += ": " + clip(m.Reason, 50)
		}
	}
	return ct.span(m.Start, m.End) + " " + clip(m.Subject, 30) + " (" + how + ")"
}
