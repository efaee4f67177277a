package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/otj-edge/otj-edge/agent"
)

type checkFlags struct {
	config  *string
	offline *bool
	timeout *time.Duration
}

func init() {
	register(&command{
		name:    "check",
		args:    "[--config FILE] [--offline]",
		summary: "validate the configuration and test connectivity",
		help: `Validates the configuration file and prints every problem as FILE:LINE: message (exit 2).
Without --offline it then tests what the agent will talk to, one line per item (exit 1 when
any check fails). Secrets are never printed.

Warnings (printed, not failures; the agent logs them at start too) point at what weakens the
site's security: a secret shorter than 8 characters, MQTT credentials sent to a broker on
another machine over plain tcp:// or ws://, a secret file or the state_dir open to group or
others.

It also warns when the clock looks wrong (calendar windows, the Join button's timing and
Microsoft 365 tokens depend on it): offline, when it reads earlier than this build or than the
newest time the store recorded; online, when it is more than 2 minutes off the Date header of
each Graph token endpoint. A wrong clock is a warning, not a failure.`,
		flags: func(fs *flag.FlagSet) any {
			return &checkFlags{
				config:  configFlag(fs),
				offline: fs.Bool("offline", false, "only validate the file; no network"),
				timeout: fs.Duration("timeout", 60*time.Second, "time limit for the online checks"),
			}
		},
		run: func(ctx context.Context, stdio IO, opts any, args []string) error {
			f := opts.(*checkFlags)
			if len(args) > 0 {
				return usagef("unexpected arguments: %v", args)
			}
			cfg, err := loadConfig(*f.config, stdio)
			if err != nil {
				return err
			}
			for _, w := range cfg.Warnings {
				fmt.Fprintln(stdio.Stdout, w.String())
			}
			fmt.Fprintf(stdio.Stdout, "config ok: %s (site %s: %d rooms, %d endpoints, %d profiles, %d integrations)\n",
				cfg.File, cfg.Site, len(cfg.Rooms()), len(cfg.Endpoints), len(cfg.Profiles), len(cfg.Integrations))
			agent.CheckClockOffline(ctx, cfg, stdio.Stdout)
			if *f.offline {
				return nil
			}
			ctx, cancel := context.WithTimeout(ctx, *f.timeout)
			defer cancel()
			if failed := agent.CheckOnline(ctx, cfg, stdio.Stdout); failed > 0 {
				return exitError{code: ExitFailure, err: fmt.Errorf("%d check(s) failed", failed)}
			}
			return nil
		},
	})
}
