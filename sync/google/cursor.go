package google

import (
	"time"

	"github.com/otj-edge/otj-edge/sync/source/poll"
)

// cursor is where the Google source is in one room: the nextSyncToken of the last complete
// list and the window its full read covered. The store keeps it as the room's cursor for
// this integration (store.PutCursor), so a restart probes from it instead of reading again.
type cursor struct {
	token  string
	ws, we time.Time
}

// cursorCodec writes the syncToken under "sync_token" (the text stored since the source
// began; poll.CursorCodec keeps it so).
var cursorCodec = poll.NewCursorCodec("sync_token", "the Google source")

// encode is the store's text; "" (start over) without a syncToken.
func (c cursor) encode() string { return cursorCodec.Encode(c.token, c.ws, c.we) }

func decodeCursor(s string) (cursor, error) {
	token, ws, we, err := cursorCodec.Decode(s)
	if err != nil {
		return cursor{}, err
	}
	return cursor{token: token, ws: ws, we: we}, nil
}
