package stored

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// Snapshot is a room's stored events as read, not yet decoded: their fingerprint, their start
// times and their JSON. The meeting processor reads one before each resolve and decodes it only
// when the room's events differ from those of its last resolve: decoding is most of a resolve
// (measured: 55 % of it at 40 Teams invites), and most notices that reach the processor change
// nothing it reads (a room's sync state, the hourly tick for rooms with nothing crossing the
// window's edge).
type Snapshot struct {
	// Sum identifies the events' JSON in order (hash/maphash, 64 bits, seeded per process):
	// two snapshots with the same Sum hold the same events; the chance that different ones
	// collide is 2^-64 per comparison, and the seed is unknown to whoever writes invites.
	Sum    uint64
	starts []time.Time
	ends   []int // end offset of each event's JSON in *buf
	buf    *[]byte
}

var (
	sumSeed = maphash.MakeSeed()
	// bufs recycles snapshots' JSON buffers (~180 KB for 40 Teams invites): most snapshots are
	// only hashed and let go. A pool keeps nothing past two garbage collections.
	bufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}
)

// Read reads a room's stored events by start time (store.EachEvent) into a snapshot, without
// decoding them. Release it when done.
func Read(ctx context.Context, st *store.Store, room string) (*Snapshot, error) {
	var h maphash.Hash
	h.SetSeed(sumSeed)
	s := &Snapshot{buf: bufs.Get().(*[]byte)}
	buf := (*s.buf)[:0]
	var n [8]byte
	err := st.EachEvent(ctx, room, func(r store.EventRow) error {
		// Each row's length first, so that no two sequences of rows hash the same bytes.
		l := uint64(len(r.Data))
		for i := range n {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.Write(r.Data)
		buf = append(buf, r.Data...)
		s.ends = append(s.ends, len(buf))
		s.starts = append(s.starts, r.Start)
		return nil
	})
	*s.buf = buf
	if err != nil {
		s.Release()
		return nil, err
	}
	s.Sum = h.Sum64()
	return s, nil
}

// Len is how many events the snapshot holds.
func (s *Snapshot) Len() int { return len(s.ends) }

// StartsIn reports whether an event starts in [from, to) (the store's start column, which is
// the event's StartTime).
func (s *Snapshot) StartsIn(from, to time.Time) bool {
	for _, t := range s.starts {
		if !t.Before(from) && t.Before(to) {
			return true
		}
	}
	return false
}

// Events decodes the snapshot's events, as Events would have read them.
func (s *Snapshot) Events(room string) ([]calendar.Event, error) {
	out := make([]calendar.Event, len(s.ends))
	from := 0
	for i, end := range s.ends {
		ev, err := decode((*s.buf)[from:end])
		if err != nil {
			return nil, fmt.Errorf("list events of %s: decode: %w", room, err)
		}
		out[i] = ev
		from = end
	}
	return out, nil
}

// Release gives the snapshot's buffer back; the snapshot is not to be used after.
func (s *Snapshot) Release() {
	if s.buf == nil {
		return
	}
	if cap(*s.buf) <= 1<<20 { // a room of huge events does not pin its buffer in the pool
		bufs.Put(s.buf)
	}
	s.buf = nil
}
