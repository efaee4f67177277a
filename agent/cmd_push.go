package agent

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
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
		summary: "push bookings to one Cisco endpoint or every one now",
		help: `Asks the running agent to push the current bookings to ENDPOINT now (every Cisco endpoint
without ENDPOINT), waits for the push, then shows the endpoints' state and last push. Poly
endpoints fetch their calendar themselves, so there is nothing to push to them. Needs the
running agent.`,
		flags: func(fs *flag.FlagSet) any {
			return &pushFlags{opFlags: addOpFlags(fs), timeout: fs.Duration("timeout", 2*time.Minute, "how long to wait for the push")}
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
			eps, err := c.Endpoints(ctx)
			if err != nil {
				return err
			}
			var shown []web.Endpoint
			for _, e := range eps {
				if (endpoint == "" && e.Type == config.EndpointCisco) || e.Name == endpoint {
					shown = append(shown, e)
				}
			}
			if *f.json {
				return writeJSON(stdio.Stdout, struct {
					Action    web.ActionResult `json:"action"`
					Endpoints []web.Endpoint   `json:"endpoints"`
				}{res, shown})
			}
			fmt.Fprintln(stdio.Stdout, res.Message)
			ct := newClockTimes()
			tw := table(stdio.Stdout)
			fmt.Fprintln(tw, "ENDPOINT\tROOM\tSTATE\tLAST PUSH\tALARM")
			for _, e := range shown {
				alarm := ""
				if len(e.Alarms) > 0 {
					alarm = e.Alarms[0].Message
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Name, e.Room, e.State, ct.ago(e.LastPush), dash(alarm))
			}
			return tw.Flush()
		},
	})
}
