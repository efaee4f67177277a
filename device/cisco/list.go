package cisco

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/otj-edge/otj-edge/device/bookings"
)

// bookingList is the tolerant reading of a Bookings List answer.
type bookingList struct {
	ResultInfo *struct {
		TotalRows json.RawMessage `json:"TotalRows"`
	} `json:"ResultInfo"`
	Booking json.RawMessage `json:"Booking"`
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
	ids, err := bookings.ListIDs(res.Booking)
	if err != nil {
		return nil, 0, fmt.Errorf("bookings list: %w", err)
	}
	return ids, total, nil
}
