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
	s.changes.publish(topic, m)
}

func (h *changes) publish(topic string, keys map[string]bool) {
	h.mu.Lock()
	subs := append([]*Sub(nil), h.subs[topic]...)
	h.mu.Unlock()
	for _, sub := range subs {
		sub.mu.Lock()
		for k := range keys {
			sub.keys[k] = true
		}
		sub.mu.Unlock()
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
