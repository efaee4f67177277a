package agent

import (
	"context"
	"fmt"
	"io"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/sync/graph"
)

func init() {
	registerCheck(onlineCheck{name: "graph", run: checkGraph})
}

// checkGraph is the Microsoft 365 part of `otj-edge check`: for each Graph integration, a
// token, then each of its rooms read once, one line each. A token failure is one line that
// says what to fix (the rooms are not tried: they would all fail the same way).
func checkGraph(ctx context.Context, cfg *config.Config, w io.Writer) int {
	failed := 0
	for _, in := range cfg.Integrations {
		if in.Type != config.IntegrationGraph {
			continue
		}
		var mailboxes []string
		for _, r := range graphRooms(cfg, in.Name) {
			mailboxes = append(mailboxes, r.Mailbox)
		}
		lines, n := graph.Check(ctx, graphIntegration(in), mailboxes, nil).Lines()
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
		failed += n
	}
	return failed
}
