package graph

import (
	"encoding/json"
	"fmt"
	"time"
)

// cursor is where the Graph source is in its sync of one room. The store keeps it as the
// room's opaque cursor for this integration (store.PutCursor), in the JSON encode writes.
// Migration 0004 of the store wrote the cursors of upgraded stores (from the delta_link,
// next_link and window columns rooms had until schema 3) in this same encoding, so its names
// and units must stay.
type cursor struct {
	deltaLink string    // of the last complete round; none: the next round is a full one
	nextLink  string    // of an incremental round in progress (a restart goes on from it)
	ws, we    time.Time // the calendarView window the links belong to
}

type cursorJSON struct {
	DeltaLink   string `json:"delta_link,omitempty"`
	NextLink    string `json:"next_link,omitempty"`
	WindowStart int64  `json:"window_start,omitempty"` // Unix ms
	WindowEnd   int64  `json:"window_end,omitempty"`
}

// encode is the store's text for the cursor; "" (no cursor: start over) when it holds no link,
// since a window alone says nothing about what the store holds.
func (c cursor) encode() string {
	if c.deltaLink == "" && c.nextLink == "" {
		return ""
	}
	b, err := json.Marshal(cursorJSON{DeltaLink: c.deltaLink, NextLink: c.nextLink, WindowStart: unixMS(c.ws), WindowEnd: unixMS(c.we)})
	if err != nil { // strings and integers always marshal
		panic(err)
	}
	return string(b)
}

// decodeCursor reads a stored cursor ("" is none).
func decodeCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	var j cursorJSON
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		return cursor{}, fmt.Errorf("stored sync cursor is not the Graph source's: %w", err)
	}
	return cursor{deltaLink: j.DeltaLink, nextLink: j.NextLink, ws: fromUnixMS(j.WindowStart), we: fromUnixMS(j.WindowEnd)}, nil
}

func unixMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromUnixMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
