package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/otj-edge/otj-edge/agent/report"
	"github.com/otj-edge/otj-edge/agent/web"
)

func init() {
	register(&command{
		name:    "report",
		args:    "[--config FILE] [--json]",
		summary: "print the newest daily report: rooms synced and failing, pushes, Poly polls, requests vs budget, meetings not joined",
		help: `Prints the newest daily report, made once a day at report.time (default 07:00, local time)
about the day before: rooms synced and the rooms failing with their status and why, booking
pushes to Cisco codecs, Poly endpoints' polls, each integration's requests against its daily
budget, and the meetings that had a Join button but were not joined from the room (a private
meeting's subject is never shown). The same report is on the status page (/report) and on MQTT
(otj/v1/<site>/report, retained). Reads the running agent's API, or the store directly
(read-only) when the agent is not running; stderr says which.`,
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
			reader, ok := s.read.(interface {
				Report(context.Context) (report.Report, error)
			})
			if !ok {
				return fmt.Errorf("this data source cannot read the daily report")
			}
			r, err := reader.Report(ctx)
			if err != nil {
				return actionFailed(err)
			}
			fmt.Fprintf(stdio.Stderr, "otj-edge report: %s\n", s.info)
			if *f.json {
				return writeJSON(stdio.Stdout, r)
			}
			return r.Write(stdio.Stdout, time.Local)
		},
	})
}

var _ interface {
	Report(context.Context) (report.Report, error)
} = (*web.Client)(nil)
