package cisco

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// bookingList is the tolerant reading of a Bookings List answer.
type bookingList struct {
	ResultInfo *struct {
		TotalRows json.RawMessage `json:"TotalRows"`
	} `json:"ResultInfo"`
	Booking json.RawMessage `json:"Booking"`
}

// listItem is one booking of a List answer, of which only the booking id is read. Items carry
// both "id" (the list index) and "Id" (the booking id). encoding/json prefers a key's exact
// match and falls back to a case-insensitive one on the first field of that name, so Index
// takes "id" and any other spelling ("ID", "iD"), and only an exact "Id" reaches ID. (Read as
// maps, as before, the items cost 3 % of the agent's steady CPU in the liveness checks.)
type listItem struct {
	Index json.RawMessage `json:"id"`
	ID    json.RawMessage `json:"Id"`
}

// listPage is how many bookings one List answer carries: small pages keep every answer a
// few kilobytes, and so the TLS read buffer each connection keeps for good.
const listPage = 8

// listIDs runs Bookings List, page by page, and returns the booking Ids on the codec.
func listIDs(ctx context.Context, conn *Conn) ([]string, error) {
	var ids []string
	for offset := 0; ; offset += listPage {
		page, total, err := listPageIDs(ctx, conn, offset)
		if err != nil {
			return nil, err
		}
		ids = append(ids, page...)
		if len(page) < listPage || (total >= 0 && offset+len(page) >= total) || offset > 65534-listPage {
			return ids, nil
		}
	}
}

// listPageIDs reads one page; total is ResultInfo.TotalRows, -1 when absent.
func listPageIDs(ctx context.Context, conn *Conn, offset int) ([]string, int, error) {
	var res bookingList
	if err := conn.Call(ctx, "xCommand/Bookings/List", map[string]any{"Offset": offset, "Limit": listPage}, &res); err != nil {
		return nil, 0, err
	}
	total := -1
	if res.ResultInfo != nil {
		if n, err := strconv.Atoi(strings.Trim(string(res.ResultInfo.TotalRows), `"`)); err == nil {
			total = n
		}
	}
	ids, err := bookingIDs(res.Booking)
	if err != nil {
		return nil, 0, err
	}
	return ids, total, nil
}

// bookingIDs reads the booking ids of a List answer's Booking: one object or an array of them.
func bookingIDs(booking json.RawMessage) ([]string, error) {
	var items []listItem
	switch {
	case len(booking) == 0:
	case booking[0] == '{':
		var one listItem
		if err := json.Unmarshal(booking, &one); err != nil {
			return nil, fmt.Errorf("bookings list: %w", err)
		}
		items = append(items, one)
	default:
		if err := json.Unmarshal(booking, &items); err != nil {
			return nil, fmt.Errorf("bookings list: %w", err)
		}
	}
	ids := make([]string, 0, len(items))
	for _, it := range items {
		if it.ID != nil {
			ids = append(ids, idKey(it.ID))
		}
	}
	return ids, nil
}
