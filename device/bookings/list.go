package bookings

import (
	"encoding/json"
	"fmt"
	"strings"
)

// listItem is one booking of a Bookings List answer, of which only the booking id is read.
// Items carry both "id" (the list index) and "Id" (the booking id). encoding/json prefers a
// key's exact match and falls back to a case-insensitive one on the first field of that name,
// so Index takes "id" and any other spelling ("ID", "iD"), and only an exact "Id" reaches ID.
// (Read as maps, as before, the items cost 3 % of the agent's steady CPU in the Cisco
// liveness checks.)
type listItem struct {
	Index json.RawMessage `json:"id"`
	ID    json.RawMessage `json:"Id"`
}

// ListIDs reads the booking ids of a Bookings List answer's "Booking": one object, an array of
// them, or nothing (absent or null). An id that is not a JSON string is kept as written.
func ListIDs(booking json.RawMessage) ([]string, error) {
	var items []listItem
	switch {
	case len(booking) == 0 || string(booking) == "null":
	case booking[0] == '{':
		var one listItem
		if err := json.Unmarshal(booking, &one); err != nil {
			return nil, fmt.Errorf("read the booking ids: %w", err)
		}
		items = append(items, one)
	default:
		if err := json.Unmarshal(booking, &items); err != nil {
			return nil, fmt.Errorf("read the booking ids: %w", err)
		}
	}
	ids := make([]string, 0, len(items))
	for _, it := range items {
		if it.ID != nil {
			ids = append(ids, idString(it.ID))
		}
	}
	return ids, nil
}

// idString is a booking id as text: a JSON string's value, anything else as written.
func idString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}
