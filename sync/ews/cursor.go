package ews

import (
	"time"

	"github.com/otj-edge/otj-edge/sync/source/poll"
)

// cursor is where the EWS source is in one room: the SyncFolderItems SyncState of the last
// complete read and the window that read covered. The store keeps it as the room's cursor for
// this integration (store.PutCursor), so a restart probes from it instead of reading again.
type cursor struct {
	state  string
	ws, we time.Time
}

// cursorCodec writes the SyncState under "sync_state" (the text stored since the source
// began; poll.CursorCodec keeps it so).
var cursorCodec = poll.NewCursorCodec("sync_state", "the EWS source")

// encode is the store's text; "" (start over) without a SyncState.
func (c cursor) encode() string { return cursorCodec.Encode(c.state, c.ws, c.we) }

func decodeCursor(s string) (cursor, error) {
	state, ws, we, err := cursorCodec.Decode(s)
	if err != nil {
		return cursor{}, err
	}
	return cursor{state: state, ws: ws, we: we}, nil
}
