package store

import (
	"sort"
	"sync"
)

// Change topics announced after commits.
const (
	TopicEvents    = "events"    // raw events of a room changed (key: room)
	TopicMeetings  = "meetings"  // resolved meetings of a room changed (key: room)
	TopicRooms     = "rooms"     // a room's sync state changed (key: room)
	TopicEndpoints = "endpoints" // an endpoint's state changed (key: endpoint name)
	TopicOutbox    = "outbox"    // messages were queued (key: "")
)

// Sub receives change notices for one topic. C gets a signal when something changed; Take
// returns the keys changed since the last Take. Notices coalesce, so a slow subscriber never
// blocks a writer and never misses a key.
type Sub struct {
	C     <-chan struct{}
	c     chan struct{}
	topic string
	hub   *changes
	mu    sync.Mutex
	keys  map[string]bool
}

// Take returns the changed keys (sorted) and forgets them.
func (s *Sub) Take() []string {
	s.mu.Lock()
	keys := s.keys
	s.keys = map[string]bool{}
	s.mu.Unlock()
	out := make([]string, 0, len(keys))
	for k := range keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Take returns what each of subs holds, forgetting it, as of one moment: the notices of one
// transaction under several topics are all in the result or none of them. A sync round writes a
// room's events and its sync state in one transaction; a subscriber that took the two topics
// one after the other could see the events' notice without the sync state's (published in
// between) and act on the room twice. subs must come from the same store.
func Take(subs ...*Sub) [][]string {
	out := make([][]string, len(subs))
	if len(subs) == 0 {
		return out
	}
	h := subs[0].hub
	h.mu.Lock() // publish holds it while it adds a transaction's keys
	defer h.mu.Unlock()
	for i, s := range subs {
		if s.hub != h {
			panic("store.Take: subscriptions of different stores")
		}
		out[i] = s.Take()
	}
	return out
}

// Close stops deliveries.
func (s *Sub) Close() { s.hub.remove(s) }

type changes struct {
	mu   sync.Mutex
	subs map[string][]*Sub
}

func newChanges() *changes { return &changes{subs: map[string][]*Sub{}} }

// Subscribe starts receiving changes for topic.
func (s *Store) Subscribe(topic string) *Sub {
	c := make(chan struct{}, 1)
	sub := &Sub{C: c, c: c, topic: topic, hub: s.changes, keys: map[string]bool{}}
	s.changes.mu.Lock()
	s.changes.subs[topic] = append(s.changes.subs[topic], sub)
	s.changes.mu.Unlock()
	return sub
}

// Notify announces a change that did not come from a write (e.g. a config reload that
// changes how a room's meetings resolve).
func (s *Store) Notify(topic string, keys ...string) {
	m := map[string]bool{}
	for _, k := range keys {
		m[k] = true
	}
	s.changes.publish(map[string]map[string]bool{topic: m})
}

// publish announces keys changed under each topic. Every subscriber holds all of them before
// any is signalled, and Take across topics sees them together (h.mu is held throughout).
func (h *changes) publish(changed map[string]map[string]bool) {
	var signal []*Sub
	h.mu.Lock()
	for topic, keys := range changed {
		for _, sub := range h.subs[topic] {
			sub.mu.Lock()
			for k := range keys {
				sub.keys[k] = true
			}
			sub.mu.Unlock()
			signal = append(signal, sub)
		}
	}
	h.mu.Unlock()
	for _, sub := range signal {
		select {
		case sub.c <- struct{}{}:
		default:
		}
	}
}

func (h *changes) remove(s *Sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := h.subs[s.topic]
	for i, x := range list {
		if x == s {
			h.subs[s.topic] = append(list[:i], list[i+1:]...)
			return
		}
	}
}
