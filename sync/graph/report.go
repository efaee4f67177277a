package graph

import (
	"context"
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// RequestsOn is how many Graph requests integration sent on the local day of day, as the
// syncer counts them in the store (for the daily report; 0 for a day without any).
func RequestsOn(ctx context.Context, st *store.Store, integration string, day time.Time) (int64, error) {
	return st.Counter(ctx, counterKey(integration, day))
}
