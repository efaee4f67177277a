package agent

import (
	"context"
	"time"

	"github.com/otj-edge/otj-edge/agent/migrate"
	"github.com/otj-edge/otj-edge/agent/web"
)

// Migration is the shadow check now: per shadowed room, the meetings it shows (live store)
// against those its shadow integration resolves (the shadow's store, shadow.go), in the
// machine's time zone (the one the page and the CLI use).
func (a *Agent) Migration(ctx context.Context) (migrate.Report, error) {
	return migrate.Collect(ctx, a.cfg.Load(), a.store, a.shadow.get, a.clock.Now(), time.Local)
}

var _ web.MigrationAgent = webAgent{}

// Migration is the page's and the API's shadow check.
func (w webAgent) Migration(ctx context.Context) (migrate.Report, error) { return w.a.Migration(ctx) }
