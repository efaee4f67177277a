package cli

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/web"
)

type pushFlags struct {
	opFlags
	timeout *time.Duration
}

func init() {
	register(&command{
		name:    "push",
		args:    "[--config FILE] [--timeout D] [--json] [ENDPOINT]",
		summary: "push bookings to one endpoint or every one now",
		help: `Asks the running agent to push the current bookings to ENDPOINT now (without ENDPOINT, to
every endpoint that takes pushes: Cisco codecs on the LAN, Webex devices through Webex's
cloud), waits until each push is done, and prints what happened to each endpoint: bookings
pushed, pushed unchanged, waiting for the room's first sync (nothing is pushed to a device
before its room's calendar has synced once, so it keeps what it shows), or failed and why.
Exits 1 when any push failed or did not finish in time. An endpoint waiting out a refusal (a
codec's wrong password, a Webex connection's refused refresh token) is not tried by push:
"otj-edge endpoints retry NAME" makes one attempt now. Endpoints that fetch their calendar
themselves (Poly) have nothing to push. Needs the running agent.`,
		flags: func(fs *flag.FlagSet) any {
			return &pushFlags{opFlags: addOpFlags(fs), timeout: fs.Duration("timeout", 2*time.Minute, "how long to wait for the pushes")}
		},
		run: func(ctx context.Context, stdio IO, opts any, args []string) error {
			f := opts.(*pushFlags)
			if len(args) > 1 {
				return usagef("give at most one endpoint: %v", args)
			}
			endpoint := ""
			if len(args) == 1 {
				endpoint = args[0]
			}
			cfg, err := loadConfig(*f.config, stdio)
			if err != nil {
				return err
			}
			c, err := needAgent(ctx, cfg, "push")
			if err != nil {
				return err
			}
			c.HTTP = &http.Client{Timeout: *f.timeout}
			res, err := c.Action(ctx, web.ActionPush, web.ActionRequest{Endpoint: endpoint})
			if err != nil {
				return actionFailed(err)
			}
			if *f.json {
				if err := writeJSON(stdio.Stdout, res); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(stdio.Stdout, res.Message)
				if len(res.Endpoints) > 1 || endpoint == "" {
					tw := table(stdio.Stdout)
					fmt.Fprintln(tw, "ENDPOINT\tOUTCOME\tRESULT")
					for _, r := range res.Endpoints {
						fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Endpoint, r.Outcome, r.Sentence())
					}
					if err := tw.Flush(); err != nil {
						return err
					}
				}
			}
			return failedPushes(res.Endpoints)
		},
	})
}

// failedPushes is the command's error when a push failed or did not finish.
func failedPushes(rs []web.EndpointResult) error {
	var failed []string
	for _, r := range rs {
		if !r.OK() {
			failed = append(failed, r.Endpoint)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return exitError{code: ExitFailure, err: fmt.Errorf("push failed for %d of %d endpoints: %s", len(failed), len(rs), strings.Join(failed, ", "))}
}
