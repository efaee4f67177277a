package agent

import (
	"context"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/exchange"
)

// diagnoseRoom is the processor's Observe: once a room is resolved, its calendar processing is
// diagnosed from the events the processor decoded (sync/exchange.Save), when its integration's
// type reads Exchange mailboxes (the source table's exchange column). The diagnosis was each
// Exchange source's own step before, which decoded every changed room's events a second time.
func (a *Agent) diagnoseRoom(ctx context.Context, state store.RoomState, events []calendar.Event) {
	isExchange := false
	if in := a.cfg.Load().Integration(state.Integration); in != nil {
		t, ok := sourceTypeOf(in)
		isExchange = ok && t.exchange
	}
	if _, err := exchange.Save(ctx, a.store, state, isExchange, events); err != nil && ctx.Err() == nil {
		a.log.Warn("cannot save the calendar processing diagnosis", "room", state.Mailbox, "err", err)
	}
}
