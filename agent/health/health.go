// Package health collects the state of every part of the agent (Tailscale's health tracker):
// a failing part reports a warning here and carries on degraded, instead of stopping the
// process. The status page, `otj-edge check`, and the MQTT status read the snapshot.
package health

import (
	"sort"
	"sync"
	"time"
)

// Levels, from best to worst.
const (
	OK      = "ok"
	Warning = "warning"
	Error   = "error"
)

// Item is one component's state.
type Item struct {
	Component string    `json:"component"` // e.g. "graph/m365", "cisco/bjorvika-codec", "mqtt"
	Level     string    `json:"level"`
	Message   string    `json:"message,omitempty"`
	Since     time.Time `json:"since"` // when the level last changed
}

// Tracker holds the latest Item per component. The zero value is not usable; call New.
type Tracker struct {
	mu    sync.Mutex
	items map[string]Item
	now   func() time.Time
	subs  map[chan struct{}]bool
}

// New makes a tracker; now may be nil (time.Now).
func New(now func() time.Time) *Tracker {
	if now == nil {
		now = time.Now
	}
	return &Tracker{items: map[string]Item{}, now: now, subs: map[chan struct{}]bool{}}
}

// Set records a component's level and message.
func (t *Tracker) Set(component, level, message string) {
	t.mu.Lock()
	old, ok := t.items[component]
	it := Item{Component: component, Level: level, Message: message, Since: t.now()}
	if ok && old.Level == level {
		it.Since = old.Since
	}
	t.items[component] = it
	if !ok || old.Level != level || old.Message != message {
		t.notifyLocked()
	}
	t.mu.Unlock()
}

// notifyLocked signals every subscriber without blocking (signals coalesce).
func (t *Tracker) notifyLocked() {
	for c := range t.subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// OK marks a component healthy.
func (t *Tracker) OK(component, message string) { t.Set(component, OK, message) }

// Warn marks a component degraded.
func (t *Tracker) Warn(component, message string) { t.Set(component, Warning, message) }

// Fail marks a component failed.
func (t *Tracker) Fail(component, message string) { t.Set(component, Error, message) }

// Remove forgets a component (it was removed from the config).
func (t *Tracker) Remove(component string) {
	t.mu.Lock()
	if _, ok := t.items[component]; ok {
		delete(t.items, component)
		t.notifyLocked()
	}
	t.mu.Unlock()
}

// Subscribe returns a channel that receives a (coalesced) signal whenever a level or message
// changes, and a function that ends the subscription. Every subscriber gets its own signal.
func (t *Tracker) Subscribe() (<-chan struct{}, func()) {
	c := make(chan struct{}, 1)
	t.mu.Lock()
	t.subs[c] = true
	t.mu.Unlock()
	return c, func() {
		t.mu.Lock()
		delete(t.subs, c)
		t.mu.Unlock()
	}
}

// Snapshot lists every component, worst first, then by name.
func (t *Tracker) Snapshot() []Item {
	t.mu.Lock()
	out := make([]Item, 0, len(t.items))
	for _, it := range t.items {
		out = append(out, it)
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if rank(out[i].Level) != rank(out[j].Level) {
			return rank(out[i].Level) > rank(out[j].Level)
		}
		return out[i].Component < out[j].Component
	})
	return out
}

// Overall is the worst level of all components (OK when there are none).
func (t *Tracker) Overall() string {
	worst := OK
	for _, it := range t.Snapshot() {
		if rank(it.Level) > rank(worst) {
			worst = it.Level
		}
	}
	return worst
}

// Problems lists the components that are not OK.
func (t *Tracker) Problems() []Item {
	var out []Item
	for _, it := range t.Snapshot() {
		if it.Level != OK {
			out = append(out, it)
		}
	}
	return out
}

func rank(level string) int {
	switch level {
	case Error:
		return 2
	case Warning:
		return 1
	}
	return 0
}
