package cli

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/otj-edge/otj-edge/agent"
)

func init() {
	register(&command{
		name:    "version",
		args:    "[--modules]",
		summary: "print the version, commit, Go version and module versions",
		flags: func(fs *flag.FlagSet) any {
			return fs.Bool("modules", true, "list the modules built in")
		},
		run: func(_ context.Context, stdio IO, opts any, _ []string) error {
			fmt.Fprintf(stdio.Stdout, "otj-edge %s (commit %s)\n%s %s/%s\n", agent.Version, agent.Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			if !*opts.(*bool) {
				return nil
			}
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, m := range bi.Deps {
					v := m.Version
					if m.Replace != nil {
						v += " => " + m.Replace.Path + " " + m.Replace.Version
					}
					fmt.Fprintf(stdio.Stdout, "  %s %s\n", m.Path, v)
				}
			}
			return nil
		},
	})
}
