package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/store"
)

type syncFlags struct {
	opFlags
	full    *bool
	noWait  *bool
	timeout *time.Duration
}

// syncPollEvery is how often `otj-edge sync` asks for progress.
var syncPollEvery = time.Second

func init() {
	register(&command{
		name:    "sync",
		args:    "[--config FILE] [--full] [--no-wait] [--timeout D] [--json] [ROOM]",
		summary: "sync the calendar of one room or every room now, and follow its progress",
		help: `Asks the running agent to sync ROOM's calendar now (every room without ROOM); --full starts
over with a full resync instead of a delta round. It then follows the rooms' sync status and
prints a progress line until every room is done or --timeout passes (the agent keeps going
in the background). Exit 1 when a room did not sync, with what to do about it. Needs the
running agent.`,
		flags: func(fs *flag.FlagSet) any {
			return &syncFlags{
				opFlags: addOpFlags(fs),
				full:    fs.Bool("full", false, "full resync instead of a delta round"),
				noWait:  fs.Bool("no-wait", false, "return once the sync is queued"),
				timeout: fs.Duration("timeout", 10*time.Minute, "how long to follow progress"),
			}
		},
		run: func(ctx context.Context, stdio IO, opts any, args []string) error {
			f := opts.(*syncFlags)
			if len(args) > 1 {
				return usagef("give at most one room: %v", args)
			}
			room := ""
			if len(args) == 1 {
				room = strings.ToLower(strings.TrimSpace(args[0]))
			}
			cfg, err := loadConfig(*f.config, stdio)
			if err != nil {
				return err
			}
			c, err := needAgent(ctx, cfg, "sync")
			if err != nil {
				return err
			}
			res, err := c.Action(ctx, web.ActionSync, web.ActionRequest{Room: room, Full: *f.full})
			if err != nil {
				return actionFailed(err)
			}
			progress := stdio.Stdout
			if *f.json {
				progress = stdio.Stderr
			}
			fmt.Fprintln(progress, res.Message)
			if *f.noWait {
				if *f.json {
					return writeJSON(stdio.Stdout, struct {
						Action web.ActionResult `json:"action"`
					}{res})
				}
				return nil
			}
			out, err := followSync(ctx, c, room, res.RequestedAt, *f.timeout, progress)
			if err != nil {
				return err
			}
			out.Action = res
			if *f.json {
				if err := writeJSON(stdio.Stdout, out); err != nil {
					return err
				}
			} else {
				printSyncOutcome(stdio.Stdout, out)
			}
			switch {
			case out.TimedOut:
				return exitError{code: ExitFailure, err: fmt.Errorf("stopped following after %s with %d of %d rooms done; the agent keeps syncing ('otj-edge rooms' shows where it is)", *f.timeout, out.Done, out.Total)}
			case out.Done-out.OK > 0:
				return exitError{code: ExitFailure, err: fmt.Errorf("%d of %d rooms did not sync", out.Done-out.OK, out.Total)}
			}
			return nil
		},
	})
}

// syncOutcome is what `otj-edge sync --json` prints.
type syncOutcome struct {
	Action   web.ActionResult `json:"action"`
	Total    int              `json:"total"`
	Done     int              `json:"done"` // rooms attempted since the request
	OK       int              `json:"ok"`
	TimedOut bool             `json:"timed_out"`
	Rooms    []web.Room       `json:"rooms"`
}

// followSync polls the rooms until each has attempted a sync since the request (its
// last_attempt is at or after requestedAt), printing a line whenever the count moves.
func followSync(ctx context.Context, c *web.Client, room string, requestedAt time.Time, timeout time.Duration, progress io.Writer) (syncOutcome, error) {
	// The store keeps milliseconds.
	since := requestedAt.Truncate(time.Millisecond)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var out syncOutcome
	last := -1
	for {
		rooms, err := c.Rooms(ctx)
		if err != nil {
			return out, fmt.Errorf("follow the sync: %w", err)
		}
		out.Rooms = out.Rooms[:0]
		for _, r := range rooms {
			if room == "" || r.Mailbox == room {
				out.Rooms = append(out.Rooms, r)
			}
		}
		out.Total, out.Done, out.OK = len(out.Rooms), 0, 0
		for _, r := range out.Rooms {
			if !r.LastAttempt.Before(since) && r.Status != store.RoomPending {
				out.Done++
				if r.Status == store.RoomOK {
					out.OK++
				}
			}
		}
		if out.Done != last {
			fmt.Fprintf(progress, "sync: %d/%d rooms done (%d ok, %d not ok)\n", out.Done, out.Total, out.OK, out.Done-out.OK)
			last = out.Done
		}
		if out.Done == out.Total {
			return out, nil
		}
		wait := time.NewTimer(syncPollEvery)
		select {
		case <-ctx.Done():
			wait.Stop()
			return out, ctx.Err()
		case <-deadline.C:
			wait.Stop()
			out.TimedOut = true
			return out, nil
		case <-wait.C:
		}
	}
}

func printSyncOutcome(w io.Writer, out syncOutcome) {
	ct := newClockTimes()
	var bad []web.Room
	for _, r := range out.Rooms {
		if r.Status != store.RoomOK {
			bad = append(bad, r)
		}
	}
	if len(bad) == 0 {
		fmt.Fprintf(w, "every room synced (%d)\n", out.Total)
		return
	}
	fmt.Fprintln(w)
	for _, r := range bad {
		line := r.Mailbox + ": " + r.Status
		if r.Detail != "" {
			line += ": " + r.Detail
		}
		if r.LastAttempt.Before(out.Action.RequestedAt.Truncate(time.Millisecond)) {
			line += " (not attempted yet; last attempt " + ct.when(r.LastAttempt) + ")"
		}
		fmt.Fprintln(w, line)
		if r.Advice != "" {
			fmt.Fprintln(w, "  "+r.Advice)
		}
		if r.AdviceCommand != "" { // one command per line (policy_denied gives several)
			fmt.Fprintln(w, "    "+strings.ReplaceAll(r.AdviceCommand, "\n", "\n    "))
		}
	}
}
