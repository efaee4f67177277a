package store

import (
	"context"
	"fmt"
	"time"
)

// writeTimes are the columns that record when the agent did something, by its own clock at the
// time (not calendar times such as a meeting's start, which may lie in the future).
var writeTimes = []struct{ table, column string }{
	{"schema_history", "applied_at"},
	{"rooms", "last_attempt"},
	{"raw_events", "updated"},
	{"series_masters", "fetched"},
	{"meetings", "updated"},
	{"endpoints", "last_contact"},
	{"endpoints", "last_push"},
	{"endpoints", "last_poll"},
	{"outbox", "created"},
	{"event_log", "at"},
}

// LastWrite is the newest time the agent recorded in the store. A clock reading earlier than
// this means the clock went back (or was ahead before): `otj-edge check` warns about it. The
// zero time means nothing has been recorded.
func (s *Store) LastWrite(ctx context.Context) (time.Time, error) {
	q := "SELECT MAX(t) FROM ("
	for i, w := range writeTimes {
		if i > 0 {
			q += " UNION ALL "
		}
		q += fmt.Sprintf("SELECT MAX(%s) AS t FROM %s", w.column, w.table)
	}
	q += ")"
	var newest *int64
	if err := s.queryRow(ctx, q).Scan(&newest); err != nil {
		return time.Time{}, fmt.Errorf("read the newest recorded time: %w", err)
	}
	if newest == nil {
		return time.Time{}, nil
	}
	return fromMS(*newest), nil
}
