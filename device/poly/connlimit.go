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
// idle connections must not leave none for them: each source address gets a share (beyond
// it, its own idle connections make room), a connection has a short time to make its first
// request, a request that does not authenticate ends its connection, and when the service is
// full it makes room by closing an idle connection of whoever holds the most.
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
	warned  map[netip.Addr]time.Time // last "no room" warning per source
	crowded map[netip.Addr]int       // connections that found no room since that warning
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
		warned: map[netip.Addr]time.Time{}, crowded: map[netip.Addr]int{}}
}

// Accept returns the next connection within the limits. A connection is closed at once only
// when there is no room for it: over its address's share with all of that address's
// connections busy, or the service full with every connection busy.
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
// make room: at its address's share, the address's own oldest connection that is not serving
// a request (several endpoints behind one NAT address keep being served, each reconnecting as
// after any idle close; a flood only displaces itself); with the service full, one of the
// biggest holder's.
func (l *connLimiter) admit(c net.Conn, src netip.Addr) (lc, victim *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	noRoom := true
	switch {
	case len(l.bySrc[src]) >= l.limits.perSource:
		victim = l.victimLocked(src)
		l.crowdedLocked(src, victim != nil, "its share of connections")
	case l.open >= l.limits.total:
		victim = l.victimLocked(netip.Addr{})
		l.crowdedLocked(src, victim != nil, "a free connection")
	default:
		noRoom = false
	}
	if noRoom {
		if victim == nil {
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

// victimLocked picks a connection to close that is not serving a request: of address only if
// it is valid, else of the address holding the most connections (a flood, not an endpoint
// with its one connection); among those, one that never authenticated first, then the oldest.
func (l *connLimiter) victimLocked(only netip.Addr) *limitedConn {
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
	for src, conns := range l.bySrc {
		if only.IsValid() && src != only {
			continue
		}
		for c := range conns {
			if c.state != http.StateActive && better(c) {
				best = c
			}
		}
	}
	return best
}

// crowdedLocked notes that a new connection from src found no room, and warns about the
// address at most once a minute.
func (l *connLimiter) crowdedLocked(src netip.Addr, madeRoom bool, lacking string) {
	l.crowded[src]++
	now := time.Now()
	if now.Sub(l.warned[src]) < time.Minute {
		return
	}
	if len(l.warned) > 10000 {
		clear(l.warned)
		clear(l.crowded)
	}
	action := "closed an idle connection to make room"
	if !madeRoom {
		action = "refused the connection: every connection is busy"
	}
	l.log.Warn("ews: a new connection lacked "+lacking+"; "+action+" (a Poly endpoint holds one or two; many from one address is a flood or many endpoints behind one NAT address)",
		"remote", src.String(), "times", l.crowded[src], "open_from_address", len(l.bySrc[src]),
		"limit_per_address", l.limits.perSource, "open", l.open, "limit", l.limits.total)
	l.warned[src], l.crowded[src] = now, 0
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
