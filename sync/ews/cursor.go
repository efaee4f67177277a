package ews

import (
	"encoding/json"
	"fmt"
	"time"
)

// cursor is where the EWS source is in one room: the SyncFolderItems SyncState of the last
// complete read and the window that read covered. The store keeps it as the room's cursor for
// this integration (store.PutCursor), so a restart probes from it instead of reading again.
type cursor struct {
	state  string
	ws, we time.Time
}

type cursorJSON struct {
	SyncState   string `json:"sync_state,omitempty"`
	WindowStart int64  `json:"window_start,omitempty"` // Unix ms
	WindowEnd   int64  `json:"window_end,omitempty"`
}

// encode is the store's text; "" (start over) without a SyncState.
func (c cursor) encode() string {
	if c.state == "" {
		return ""
	}
	b, _ := json.Marshal(cursorJSON{SyncState: c.state, WindowStart: c.ws.UnixMilli(), WindowEnd: c.we.UnixMilli()})
	return string(b)
}

func decodeCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	var j cursorJSON
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		return cursor{}, fmt.Errorf("stored sync cursor is not the EWS source's: %w", err)
	}
	c := cursor{state: j.SyncState}
	if j.WindowStart != 0 {
		c.ws, c.we = time.UnixMilli(j.WindowStart).UTC(), time.UnixMilli(j.WindowEnd).UTC()
	}
	return c, nil
}
