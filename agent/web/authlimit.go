package web

import (
	"net"
	"sync"
	"time"
)

// authWindowLength is the window failed logins are counted in.
const authWindowLength = time.Minute

// maxAuthClients bounds the clients whose failed logins are remembered (a few hundred bytes
// each), however many addresses an attacker brings.
const maxAuthClients = 4096

// authLimiter slows down password guessing per client: after MaxAuthFailures wrong logins from
// one client within a minute, that client is answered 429 until the minute is over. Counting
// per client means one attacker cannot lock the technicians out; an attacker with many
// addresses gets MaxAuthFailures guesses a minute per address, which a LAN bounds.
type authLimiter struct {
	mu      sync.Mutex
	max     int // failures per window and client
	cap     int // clients remembered
	clients map[string]*authWindow
}

type authWindow struct {
	start    time.Time
	failures int
}

func newAuthLimiter(maxFailures int) *authLimiter {
	return &authLimiter{max: maxFailures, cap: maxAuthClients, clients: map[string]*authWindow{}}
}

// limited reports whether client has used up its failed logins for the current window.
func (l *authLimiter) limited(client string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.clients[client]
	if !ok {
		return false
	}
	if now.Sub(w.start) >= authWindowLength {
		delete(l.clients, client)
		return false
	}
	return w.failures >= l.max
}

// fail counts a failed login of client.
func (l *authLimiter) fail(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.clients[client]
	if ok && now.Sub(w.start) >= authWindowLength {
		w.start, w.failures = now, 0
	}
	if !ok {
		if len(l.clients) >= l.cap {
			l.makeRoom(now)
		}
		w = &authWindow{start: now}
		l.clients[client] = w
	}
	w.failures++
}

// makeRoom forgets the clients whose window is over, or when every window is still open the
// one that opened first (it is the closest to being forgotten anyway).
func (l *authLimiter) makeRoom(now time.Time) {
	var oldest string
	for c, w := range l.clients {
		if now.Sub(w.start) >= authWindowLength {
			delete(l.clients, c)
			continue
		}
		if oldest == "" || w.start.Before(l.clients[oldest].start) {
			oldest = c
		}
	}
	if len(l.clients) >= l.cap && oldest != "" {
		delete(l.clients, oldest)
	}
}

// authClient is the key failed logins are counted under: the client's IP address, or its /64
// for IPv6 (one host can pick any address of its /64).
func authClient(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return host
	case ip.To4() != nil:
		return ip.To4().String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
