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
		// A shadow integration is checked on the rooms it shadows too: reading them is what
		// the migration waits for.
		rooms := append(sourceRooms(cfg, in.Name), roomsOf(cfg, cfg.ShadowRooms(in.Name))...)
		res := t.check(ctx, in, rooms)
		for _, l := range res.Lines {
			fmt.Fprintln(w, l)
		}
		failed += res.Failed
	}
	return failed
}
