package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/web"
)

func init() {
	register(&command{
		name:    "reload",
		args:    "[--config FILE] [--json]",
		summary: "make the running agent re-read its configuration file",
		help: `Asks the running agent to re-read and validate its configuration file and switch to it
(the same as SIGHUP). When the file has problems the running configuration stays and each
problem is printed as FILE:LINE: message (exit 1). --config only tells this command where to
find the agent. Needs the running agent.`,
		flags: func(fs *flag.FlagSet) any { f := addOpFlags(fs); return &f },
		run: func(ctx context.Context, stdio IO, opts any, args []string) error {
			f := opts.(*opFlags)
			if len(args) > 0 {
				return usagef("unexpected arguments: %v", args)
			}
			cfg, err := loadConfig(*f.config, stdio)
			var ce *config.Error
			if errors.As(err, &ce) {
				// The agent would refuse the same file: say so instead of asking it.
				fmt.Fprintln(stdio.Stderr, ce.Error())
				return exitError{code: ExitUsage, err: errors.New("not reloaded: fix the problems above; the running agent keeps its configuration")}
			}
			if err != nil {
				return err
			}
			c, err := needAgent(ctx, cfg, "reload")
			if err != nil {
				return err
			}
			res, err := c.Action(ctx, web.ActionReload, web.ActionRequest{})
			if err != nil {
				return actionFailed(err)
			}
			if *f.json {
				return writeJSON(stdio.Stdout, res)
			}
			fmt.Fprintln(stdio.Stdout, res.Message)
			return nil
		},
	})
}
