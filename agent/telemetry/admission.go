package telemetry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Admission of commands: what keeps a flood on otj/v1/<site>/cmd/# from costing the site its
// memory or its Graph budget. Anyone the broker's ACL lets publish there can send commands, so
// every command is checked before it is queued, on the paho goroutine that received it (the
// checks are a length comparison and a few map lookups, and never block):
//
//   - A payload over MaxCommandBytes is refused unread: a 60 MB rules-test used to be copied,
//     queued and decoded several times over (35 MB to 700 MB of memory).
//   - sync and push are coalesced per room and endpoint: one for the same target as a command
//     accepted a moment ago (CommandLimits.SyncEvery, FullSyncEvery, PushEvery; a full sync
//     covers a sync) does not run again. It gets that command's result with "coalesced_with"
//     naming it: when that one finishes if it is still queued or running, at once otherwise.
//   - The sync and push commands that would run are rate limited per site with two token
//     buckets: one for a room's sync or an endpoint's push, a stricter one for full syncs and
//     commands for every room or endpoint (each of those costs Graph requests or codec
//     sessions for the whole site). A command over the limit is answered "rate limited" with
//     the time to retry after.
//
// Every refused or coalesced command is answered on cmd-result (through the bounded answer
// queue), logged and counted in the metrics.

// MaxCommandBytes is the largest command payload the agent reads (1 MiB; a Graph event for
// rules-test is a few KiB).
const MaxCommandBytes = 1 << 20

// CommandLimits bound the sync and push commands a site carries out. Zero values take the
// defaults.
type CommandLimits struct {
	// SyncEvery: a sync of a room (or of every room) within this long of an accepted sync or
	// full sync of the same is coalesced with it; default 30s.
	SyncEvery time.Duration
	// FullSyncEvery: the same for full syncs (a full sync covers a sync, not the other way
	// round); default 10m.
	FullSyncEvery time.Duration
	// PushEvery: the same for pushes to an endpoint (or to every endpoint); default 30s.
	PushEvery time.Duration
	// Burst commands for one room or endpoint may run at once, then one every Every; default 20
	// and 3s (20 a minute).
	Burst int
	Every time.Duration
	// HeavyBurst full syncs and commands for every room or endpoint may run at once, then one
	// every HeavyEvery; default 3 and 5m.
	HeavyBurst int
	HeavyEvery time.Duration
}

func (l *CommandLimits) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.SyncEvery, 30*time.Second)
	def(&l.FullSyncEvery, 10*time.Minute)
	def(&l.PushEvery, 30*time.Second)
	def(&l.Every, 3*time.Second)
	def(&l.HeavyEvery, 5*time.Minute)
	if l.Burst <= 0 {
		l.Burst = 20
	}
	if l.HeavyBurst <= 0 {
		l.HeavyBurst = 3
	}
}

// admission holds what the checks remember: the accepted sync and push commands by what they
// cover, the ones not finished yet by id, and the two buckets.
type admission struct {
	mu       sync.Mutex
	limits   CommandLimits
	accepted map[coverKey]*job
	pending  map[string]*job // accepted and not yet settled, by request id
	light    bucket
	heavy    bucket
}

// coverKey names what an accepted command covers: a sync of one room (room "" = every room),
// full or not, or a push to one endpoint ("" = every endpoint). Only a command for the same
// target is coalesced, so it gets the answer its own run would have had (an unknown room's
// error, say), not that of a broader command.
type coverKey struct {
	command string
	target  string
	full    bool
}

// job is an accepted sync or push: the commands coalesced with it wait for its result.
type job struct {
	id      string
	at      time.Time
	done    bool
	result  Result   // once done
	waiters []string // request ids coalesced with it while it was queued or running
}

// maxWaiters bounds the requests waiting on one job; more are answered at once, without the
// job's result.
const maxWaiters = 1024

// pruneAt is the size of the accepted table past which expired entries are dropped. The
// buckets bound how fast it grows: at most Burst plus a few a minute.
const pruneAt = 256

// verdict is what admission decided about a command that is not to run.
type verdict struct {
	// coalescedWith is the request whose run covers this one; acceptedAt is when it was accepted.
	coalescedWith string
	acceptedAt    time.Time
	// result is the covering request's result when it is already known; waiting says that
	// this request is answered when that one finishes. With neither, it is answered at once.
	result  *Result
	waiting bool
	// limited says why the command is rate limited, and retryAfter when the bucket has room.
	limited    string
	retryAfter time.Time
}

func newAdmission(l CommandLimits) *admission {
	l.defaults()
	return &admission{
		limits:   l,
		accepted: map[coverKey]*job{},
		pending:  map[string]*job{},
		light:    bucket{size: float64(l.Burst), every: l.Every, tokens: float64(l.Burst)},
		heavy:    bucket{size: float64(l.HeavyBurst), every: l.HeavyEvery, tokens: float64(l.HeavyBurst)},
	}
}

// admit decides about a well-formed sync or push: nil when it is to run (it is then recorded
// as a job that later ones for the same target are coalesced with), or the verdict.
func (a *admission) admit(name string, req Request, now time.Time) *verdict {
	var own coverKey
	var covers []coverKey // accepted commands that cover this one
	var window time.Duration
	switch name {
	case CmdSync:
		own = coverKey{CmdSync, req.Room, req.Full}
		window = a.limits.SyncEvery
		if req.Full {
			window = a.limits.FullSyncEvery
		}
		// A full sync covers a sync of the same room; a sync does not cover a full one.
		covers = []coverKey{{CmdSync, req.Room, true}}
		if !req.Full {
			covers = append(covers, coverKey{CmdSync, req.Room, false})
		}
	case CmdPush:
		own = coverKey{CmdPush, req.Endpoint, false}
		window = a.limits.PushEvery
		covers = []coverKey{own}
	default:
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.pending[req.ID]; ok {
		return nil // the same request again (QoS 1 redelivery): serve answers it once
	}
	var best *job
	for _, k := range covers {
		j, ok := a.accepted[k]
		if !ok || now.Sub(j.at) >= window || now.Before(j.at) {
			continue
		}
		if j.id == req.ID {
			return nil // redelivered after it finished: serve answers it from its cache
		}
		if best == nil || j.at.After(best.at) {
			best = j
		}
	}
	if best != nil {
		v := &verdict{coalescedWith: best.id, acceptedAt: best.at}
		switch {
		case best.done:
			r := best.result
			v.result = &r
		case len(best.waiters) < maxWaiters:
			best.waiters = append(best.waiters, req.ID)
			v.waiting = true
		}
		return v
	}
	heavy := req.Full || (name == CmdSync && req.Room == "") || (name == CmdPush && req.Endpoint == "")
	b, what := &a.light, "syncs of a room and pushes to an endpoint"
	if heavy {
		b, what = &a.heavy, "full syncs and commands for every room or endpoint"
	}
	if ok, retry := b.take(now); !ok {
		return &verdict{retryAfter: retry,
			limited: fmt.Sprintf("%s are limited to %d at once, then one every %s on this site", what, int(b.size), b.every)}
	}
	if len(a.accepted) >= pruneAt {
		longest := max(a.limits.SyncEvery, a.limits.FullSyncEvery, a.limits.PushEvery)
		for k, j := range a.accepted {
			if now.Sub(j.at) >= longest && j.done {
				delete(a.accepted, k)
			}
		}
	}
	j := &job{id: req.ID, at: now}
	a.accepted[own] = j
	a.pending[req.ID] = j
	return nil
}

// settle records the result of an accepted command (run, or answered without running: busy,
// the agent stopping) and returns the requests coalesced with it, to be answered with it.
// It does nothing for a request id that was not admitted as a job.
func (a *admission) settle(id string, r Result) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	j, ok := a.pending[id]
	if !ok {
		return nil
	}
	delete(a.pending, id)
	j.done, j.result = true, r
	w := j.waiters
	j.waiters = nil
	return w
}

// bucket is a token bucket on the injected clock.
type bucket struct {
	size   float64
	every  time.Duration // one token comes back this often
	tokens float64
	last   time.Time
}

// take takes a token, or reports when one will be there.
func (b *bucket) take(now time.Time) (bool, time.Time) {
	if now.After(b.last) {
		if !b.last.IsZero() {
			b.tokens = min(b.size, b.tokens+float64(now.Sub(b.last))/float64(b.every))
		}
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, time.Time{}
	}
	at := now.Add(time.Duration((1 - b.tokens) * float64(b.every)))
	if whole := at.Truncate(time.Second); whole.Before(at) {
		at = whole.Add(time.Second) // a whole second, not before the token is back
	}
	return false, at
}

// peekID finds a request's id in its first bytes without reading the rest (for answering a
// command too large to read). It returns "" when the id is not among the first keys.
func peekID(payload []byte) string {
	const look = 4 << 10
	dec := json.NewDecoder(io.LimitReader(bytes.NewReader(payload), look))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ""
	}
	for {
		key, err := dec.Token()
		if err != nil {
			return ""
		}
		k, ok := key.(string)
		if !ok {
			return ""
		}
		if k == "id" {
			tok, err := dec.Token()
			if id, ok := tok.(string); err == nil && ok && len(id) <= maxRequestID {
				return id
			}
			return ""
		}
		// Skip the value, token by token: a large value stops at the look-ahead limit.
		depth := 0
		for {
			tok, err := dec.Token()
			if err != nil {
				return ""
			}
			switch tok {
			case json.Delim('{'), json.Delim('['):
				depth++
			case json.Delim('}'), json.Delim(']'):
				depth--
			}
			if depth == 0 {
				break
			}
		}
	}
}

// sizeText is a byte count for messages: "2.0 MiB", "512 KiB", "900 bytes".
func sizeText(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
