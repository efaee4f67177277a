package agent

import (
	"context"
	"fmt"
	"io"

	"github.com/otj-edge/otj-edge/agent/config"
)

func init() {
	registerCheck(onlineCheck{name: "integrations", run: checkIntegrations})
}

// checkIntegrations is the calendar part of `otj-edge check`: each integration's own check,
// one line per thing checked.
func checkIntegrations(ctx context.Context, cfg *config.Config, w io.Writer) int {
	failed := 0
	for i := range cfg.Integrations {
		in := &cfg.Integrations[i]
		t, ok := sourceTypeOf(in)
		if !ok {
			continue
		}
		res := t.check(ctx, in, sourceRooms(cfg, in.Name))
		for _, l := range res.Lines {
			fmt.Fprintln(w, l)
		}
		failed += res.Failed
	}
	return failed
}
