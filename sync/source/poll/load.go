package poll

import (
	"context"
	"fmt"

	"github.com/otj-edge/otj-edge/store"
)

// Loaded is what a polling source reads from the store when it starts.
type Loaded struct {
	// Rooms are the stored states of the source's rooms, a pending state for each room the
	// store did not have yet (written by LoadRooms).
	Rooms map[string]store.RoomState
	// Cursors are the integration's stored sync positions, by room.
	Cursors map[string]string
	// Used is the day's request count under counterKey.
	Used int64
}

// LoadRooms reads what a source needs to start from the store: its rooms' states (adding the
// rooms it has never seen as pending, so the page lists them before their first sync), the
// integration's cursors and the day's request count. what names the source in errors ("ews
// syncer"). Every source starts the same way; only its cursor format and scheduler differ.
func LoadRooms(ctx context.Context, st *store.Store, what, integration string, rooms []string, counterKey string) (Loaded, error) {
	stored, err := st.Rooms(ctx)
	if err != nil {
		return Loaded{}, fmt.Errorf("%s: %w", what, err)
	}
	have := map[string]store.RoomState{}
	for _, r := range stored {
		have[r.Mailbox] = r
	}
	cursors, err := st.Cursors(ctx, integration)
	if err != nil {
		return Loaded{}, fmt.Errorf("%s: %w", what, err)
	}
	err = st.Write(ctx, func(tx *store.Tx) error {
		for _, n := range rooms {
			if _, ok := have[n]; !ok {
				rs := store.RoomState{Mailbox: n, Integration: integration, Status: store.RoomPending}
				if err := tx.PutSyncState(rs); err != nil {
					return err
				}
				have[n] = rs
			}
		}
		return nil
	})
	if err != nil {
		return Loaded{}, fmt.Errorf("%s: add rooms: %w", what, err)
	}
	used, err := st.Counter(ctx, counterKey)
	if err != nil {
		return Loaded{}, fmt.Errorf("%s: %w", what, err)
	}
	return Loaded{Rooms: have, Cursors: cursors, Used: used}, nil
}
