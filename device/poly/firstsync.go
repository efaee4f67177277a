package poly

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// notSyncedRetry is what a Poly endpoint is asked to wait before it polls again while its
// room's calendar has not synced yet: a first round usually takes seconds, so "soon".
const notSyncedRetry = 30 * time.Second

// waitingDetail is the endpoint's state detail while its room waits for its first sync.
const waitingDetail = "waiting for the room's first calendar sync: the endpoint is told to keep what it shows and retry"

// syncGate tells whether a room's calendar may be served: only once its meetings have been
// resolved from a completed sync of this store (store.RoomResolved, the mark the Cisco driver
// waits for too). Before that the store knows nothing about the room (a first start, a
// moved-aside store), and an empty answer would tell the endpoint the room is free and wipe
// the meetings it shows. Once seen, a room stays served for the life of the service: a room
// whose source fails later keeps its last good meetings.
type syncGate struct {
	st *store.Store

	mu    sync.Mutex
	ready map[string]bool
}

func newSyncGate(st *store.Store) *syncGate {
	return &syncGate{st: st, ready: map[string]bool{}}
}

// known reports whether room's calendar may be served. An error is a store failure; the room
// is then not served either (the caller answers "busy, retry").
func (g *syncGate) known(ctx context.Context, room string) (bool, error) {
	g.mu.Lock()
	ok := g.ready[room]
	g.mu.Unlock()
	if ok {
		return true, nil
	}
	ok, _, err := g.st.RoomResolved(ctx, room)
	if err != nil || !ok {
		return false, err
	}
	g.mu.Lock()
	g.ready[room] = true
	g.mu.Unlock()
	return true, nil
}

// notSyncedFault is the answer for a room that has not synced yet. It is sent with HTTP 503 and
// Retry-After (see answerNotSynced): what README "Poly endpoints" says a Poly endpoint treats as a
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
