package google

import (
	"encoding/json"
	"fmt"
	"time"
)

// cursor is where the Google source is in one room: the nextSyncToken of the last complete
// list and the window its full read covered. The store keeps it as the room's cursor for
// this integration (store.PutCursor), so a restart probes from it instead of reading again.
type cursor struct {
	token  string
	ws, we time.Time
}

type cursorJSON struct {
	SyncToken   string `json:"sync_token,omitempty"`
	WindowStart int64  `json:"window_start,omitempty"` // Unix ms
	WindowEnd   int64  `json:"window_end,omitempty"`
}

// encode is the store's text; "" (start over) without a syncToken.
func (c cursor) encode() string {
	if c.token == "" {
		return ""
	}
	b, _ := json.Marshal(cursorJSON{SyncToken: c.token, WindowStart: c.ws.UnixMilli(), WindowEnd: c.we.UnixMilli()})
	return string(b)
}

func decodeCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	var j cursorJSON
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		return cursor{}, fmt.Errorf("stored sync cursor is not the Google source's: %w", err)
	}
	c := cursor{token: j.SyncToken}
	if j.WindowStart != 0 {
		c.ws, c.we = time.UnixMilli(j.WindowStart).UTC(), time.UnixMilli(j.WindowEnd).UTC()
	}
	return c, nil
}
