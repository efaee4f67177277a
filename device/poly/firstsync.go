package poly

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// Resolver resolves one room's stored events into meetings now (sync/process's Processor).
type Resolver interface {
	ResolveRoom(ctx context.Context, room string) error
}

// notSyncedRetry is what a Poly endpoint is asked to wait before it polls again while its
// room's calendar has not synced yet: a first round usually takes seconds, so "soon".
const notSyncedRetry = 30 * time.Second

// waitingDetail is the endpoint's state detail while its room waits for its first sync.
const waitingDetail = "waiting for the room's first calendar sync: the endpoint is told to keep what it shows and retry"

// syncGate tells whether a room's calendar may be served: only once it has synced
// successfully at least once from this store. Before that the store knows nothing about the
// room (a first start, a moved-aside store), and an empty answer would tell the endpoint the
// room is free and wipe the meetings it shows.
//
// rooms.last_success is set only when a Graph round completes (the page with the deltaLink),
// in the transaction that writes that page's events. The meetings an endpoint is served are
// the processor's resolution of those events, which runs after the commit: right after the
// first sync the meetings table can still be the resolution of no events. So once a room is
// seen synced, the gate resolves it once itself (reading the events after it read
// last_success, so they include the whole round) before it serves the room. A racing
// processor pass resolves the same committed events; the processor is notified of any later
// change and resolves again. From then on the room is served for the life of the service: a
// room whose source fails later keeps its last good meetings.
type syncGate struct {
	st       *store.Store
	resolver Resolver // nil: last_success alone (no processor in this process)

	mu    sync.Mutex
	rooms map[string]*gateRoom
}

type gateRoom struct {
	mu    sync.Mutex // one resolve per room at a time; other rooms are not held up
	ready bool
}

func newSyncGate(st *store.Store, r Resolver) *syncGate {
	return &syncGate{st: st, resolver: r, rooms: map[string]*gateRoom{}}
}

// ready reports whether room's calendar may be served. An error is a store or resolve failure;
// the room is then not served either (the caller answers "busy, retry").
func (g *syncGate) ready(ctx context.Context, room string) (bool, error) {
	g.mu.Lock()
	r := g.rooms[room]
	if r == nil {
		r = &gateRoom{}
		g.rooms[room] = r
	}
	g.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ready {
		return true, nil
	}
	st, ok, err := g.st.Room(ctx, room)
	if err != nil {
		return false, fmt.Errorf("read the sync state of %s: %w", room, err)
	}
	if !ok || st.LastSuccess.IsZero() {
		return false, nil
	}
	if g.resolver != nil {
		if err := g.resolver.ResolveRoom(ctx, room); err != nil {
			return false, fmt.Errorf("resolve the meetings of %s after its first sync: %w", room, err)
		}
	}
	r.ready = true
	return true, nil
}

// notSyncedFault is the answer for a room that has not synced yet. It is sent with HTTP 503 and
// Retry-After (see answerNotSynced): what research/poly.md says a Poly endpoint treats as a
// transient outage of its calendar server (OFFLINE, last meetings kept, retried), the same as
// the agent being restarted. The body is Exchange's own "busy, back off" fault, for a client
// that reads it.
func notSyncedFault() *faultError {
	return &faultError{soapCode: "Server", code: codeServerBusy, backOff: notSyncedRetry,
		msg: "The room's calendar has not been synchronized yet. Keep the current calendar and try again later."}
}

func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(int(d.Round(time.Second).Seconds()))
}
