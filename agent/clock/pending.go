package clock

import "sync"

// Pending counts work a scheduler on an injected clock has taken on and not finished (a wake
// not yet handled, a step not yet done and its next deadline not yet armed). A test on a Fake
// clock moves the clock on only when none is left, so no timer it expects is still to be made.
// The zero value is ready to use.
type Pending struct {
	mu      sync.Mutex
	n       int
	waiters []chan struct{}
}

// Add changes the count by d (negative when work is done).
func (p *Pending) Add(d int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += d
	if p.n == 0 {
		for _, w := range p.waiters {
			close(w)
		}
		p.waiters = nil
	}
}

// Idle reports whether nothing is pending, and else a channel closed when nothing is.
func (p *Pending) Idle() (bool, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == 0 {
		return true, nil
	}
	c := make(chan struct{})
	p.waiters = append(p.waiters, c)
	return false, c
}
