package poly

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Connection limits of the calendar service. A Poly endpoint holds one connection (two at
// most, briefly); a whole site's endpoints need a few dozen. One client holding a thousand
// idle connections must not leave none for them: each source address gets a share, a
// connection has a short time to make its first request, a request that does not
// authenticate ends its connection, and when the service is full it makes room by closing an
// idle connection of whoever holds the most.
type connLimits struct {
	perSource int // open connections per source address (IPv6: per /64)
	total     int // open connections in all
	// firstRequest is how long a connection may take from accept to its first request's
	// headers (TLS handshake included), and how long a connection that has not authenticated
	// may stay idle.
	firstRequest time.Duration
}

var defaultConnLimits = connLimits{perSource: 32, total: 1024, firstRequest: 10 * time.Second}

// connLimiter is a listener enforcing connLimits. The http.Server reports each connection's
// state to it (ConnState) and the handler marks authenticated ones (markAuthenticated).
type connLimiter struct {
	net.Listener
	limits connLimits
	log    *slog.Logger

	mu      sync.Mutex
	bySrc   map[netip.Addr]map[*limitedConn]struct{}
	open    int
	seq     uint64
	warned  map[netip.Addr]time.Time // last "too many connections" warning per source
	refused map[netip.Addr]int       // refusals since that warning
}

// limitedConn is one accepted connection. Its fields after Conn are guarded by l.mu.
type limitedConn struct {
	net.Conn
	l         *connLimiter
	src       netip.Addr
	seq       uint64 // accept order: the oldest idle connection goes first
	state     http.ConnState
	authed    bool
	timer     *time.Timer
	closeOnce sync.Once
}

func newConnLimiter(ln net.Listener, limits connLimits, log *slog.Logger) *connLimiter {
	return &connLimiter{Listener: ln, limits: limits, log: log, bySrc: map[netip.Addr]map[*limitedConn]struct{}{},
		warned: map[netip.Addr]time.Time{}, refused: map[netip.Addr]int{}}
}

// Accept returns the next connection within the limits; connections over a source's share
// are closed at once (their client sees the connection reset or closed, and retries).
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := sourceKey(c.RemoteAddr().String())
		lc, victim := l.admit(c, src)
		if victim != nil {
			victim.Close()
		}
		if lc == nil {
			c.Close()
			continue
		}
		return lc, nil
	}
}

// admit registers a new connection, or refuses it (nil). victim is a connection to close to
// make room.
func (l *connLimiter) admit(c net.Conn, src netip.Addr) (lc, victim *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bySrc[src]) >= l.limits.perSource {
		l.refusedLocked(src, "its share of connections")
		return nil, nil
	}
	if l.open >= l.limits.total {
		victim = l.victimLocked()
		if victim == nil {
			l.refusedLocked(src, "a free connection (all are busy)")
			return nil, nil
		}
		l.removeLocked(victim)
	}
	l.seq++
	lc = &limitedConn{Conn: c, l: l, src: src, seq: l.seq, state: http.StateNew}
	if l.bySrc[src] == nil {
		l.bySrc[src] = map[*limitedConn]struct{}{}
	}
	l.bySrc[src][lc] = struct{}{}
	l.open++
	// Wall-clock timers, like the http.Server's own deadlines: they bound network waits.
	lc.timer = time.AfterFunc(l.limits.firstRequest, func() { l.expire(lc) })
	return lc, victim
}

// victimLocked picks the connection to close when the service is full: one that is not
// serving a request, from the source holding the most connections (a flood, not an endpoint
// with its one connection), preferring connections that never authenticated, then the oldest.
func (l *connLimiter) victimLocked() *limitedConn {
	var best *limitedConn
	better := func(c *limitedConn) bool {
		if best == nil {
			return true
		}
		if n, m := len(l.bySrc[c.src]), len(l.bySrc[best.src]); n != m {
			return n > m
		}
		if c.authed != best.authed {
			return !c.authed
		}
		return c.seq < best.seq
	}
	for _, conns := range l.bySrc {
		for c := range conns {
			if c.state == http.StateActive {
				continue
			}
			if better(c) {
				best = c
			}
		}
	}
	return best
}

// refusedLocked counts a refused connection and warns about the source at most once a minute.
func (l *connLimiter) refusedLocked(src netip.Addr, lacking string) {
	l.refused[src]++
	now := time.Now()
	if now.Sub(l.warned[src]) < time.Minute {
		return
	}
	if len(l.warned) > 10000 {
		clear(l.warned)
		clear(l.refused)
	}
	l.log.Warn("ews: refused connections from an address that holds too many; real Poly endpoints hold one or two",
		"remote", src.String(), "lacking", lacking, "refused", l.refused[src], "open_from_address", len(l.bySrc[src]),
		"limit_per_address", l.limits.perSource, "open", l.open, "limit", l.limits.total)
	l.warned[src], l.refused[src] = now, 0
}

func (l *connLimiter) removeLocked(c *limitedConn) {
	conns := l.bySrc[c.src]
	if _, ok := conns[c]; !ok {
		return
	}
	delete(conns, c)
	if len(conns) == 0 {
		delete(l.bySrc, c.src)
	}
	l.open--
	if c.timer != nil {
		c.timer.Stop()
	}
}

// expire closes a connection that is still waiting for its first request, or idle without
// having authenticated, when its timer fires.
func (l *connLimiter) expire(c *limitedConn) {
	l.mu.Lock()
	_, open := l.bySrc[c.src][c]
	idle := c.state == http.StateNew || (c.state == http.StateIdle && !c.authed)
	l.mu.Unlock()
	if open && idle {
		c.Close()
	}
}

// connState follows the http.Server's view of each connection.
func (l *connLimiter) connState(nc net.Conn, st http.ConnState) {
	c := unwrapConn(nc)
	if c == nil {
		return
	}
	switch st {
	case http.StateClosed, http.StateHijacked:
		c.Close()
		return
	}
	l.mu.Lock()
	c.state = st
	if st == http.StateActive && c.timer != nil {
		c.timer.Stop()
	}
	if st == http.StateIdle && !c.authed {
		// Unauthenticated answers close their connection; this is the safety net.
		c.timer = time.AfterFunc(l.limits.firstRequest, func() { l.expire(c) })
	}
	l.mu.Unlock()
}

// count is how many connections a source holds (tests).
func (l *connLimiter) count(src netip.Addr) (fromSrc, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.bySrc[src]), l.open
}

// Close closes the connection and frees its place.
func (c *limitedConn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		c.l.mu.Lock()
		c.l.removeLocked(c)
		c.l.mu.Unlock()
		err = c.Conn.Close()
	})
	return err
}

// unwrapConn finds the limitedConn under what the http.Server holds (a *tls.Conn).
func unwrapConn(nc net.Conn) *limitedConn {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, _ := nc.(*limitedConn)
	return c
}

type connKey struct{}

// connContext puts the connection in its requests' contexts (http.Server.ConnContext).
func connContext(ctx context.Context, nc net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, nc)
}

// markAuthenticated records that a request on the connection authenticated: it may then stay
// idle between polls for the server's IdleTimeout.
func markAuthenticated(r *http.Request) {
	nc, _ := r.Context().Value(connKey{}).(net.Conn)
	if c := unwrapConn(nc); c != nil {
		c.l.mu.Lock()
		c.authed = true
		c.l.mu.Unlock()
	}
}
