package poly

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// accounts finds the endpoint a Basic credential belongs to. A Poly endpoint has separate
// Domain and User name fields, so the same account arrives as "user", "DOMAIN\user" or
// "user@domain"; all three are accepted, case-insensitively (as Exchange does).
type accounts struct {
	byKey map[string]*account
}

// account is one endpoint's credential, bound to exactly one room.
type account struct {
	Account
	room     string   // lower case
	passHash [32]byte // SHA-256 of the password, compared in constant time
}

func newAccounts(list []Account) *accounts {
	a := &accounts{byKey: map[string]*account{}}
	locals := map[string][]*account{}
	for i := range list {
		acc := &account{Account: list[i], room: strings.ToLower(list[i].Room), passHash: sha256.Sum256([]byte(list[i].Password.Value()))}
		full := normalizeUser(list[i].Username)
		a.byKey[full] = acc
		if local, _, ok := strings.Cut(full, "@"); ok {
			locals[local] = append(locals[local], acc)
		}
	}
	// A configured "user@domain" also answers to its bare "user" (the endpoint may put the
	// domain in its Domain field), unless another endpoint is configured with that exact name
	// or shares the local part.
	for local, accs := range locals {
		if _, taken := a.byKey[local]; !taken && len(accs) == 1 {
			a.byKey[local] = accs[0]
		}
	}
	return a
}

// owns reports whether a mailbox address names the account's room: the room itself, or the
// account's own user name when that is an address (an endpoint may ask for the mailbox it logs
// in as; the credential stands for the room).
func (a *account) owns(mailbox string) bool {
	m := strings.ToLower(strings.TrimSpace(mailbox))
	return m == a.room || (strings.Contains(m, "@") && m == normalizeUser(a.Username))
}

// normalizeUser drops a DOMAIN\ prefix and lower-cases.
func normalizeUser(u string) string {
	u = strings.TrimSpace(u)
	if i := strings.LastIndexByte(u, '\\'); i >= 0 {
		u = u[i+1:]
	}
	return strings.ToLower(u)
}

// lookup finds the account for a user name as sent.
func (a *accounts) lookup(user string) *account {
	u := normalizeUser(user)
	if acc := a.byKey[u]; acc != nil {
		return acc
	}
	if local, _, ok := strings.Cut(u, "@"); ok {
		return a.byKey[local]
	}
	return nil
}

// dummyHash is compared against when the user is unknown, so a wrong user name costs the same
// time as a wrong password.
var dummyHash = sha256.Sum256([]byte("otj-edge: no such user"))

// check returns the account for a user name and password, or nil.
func (a *accounts) check(user, password string) (*account, bool) {
	acc := a.lookup(user)
	got := sha256.Sum256([]byte(password))
	want := dummyHash
	if acc != nil {
		want = acc.passHash
	}
	ok := subtle.ConstantTimeCompare(got[:], want[:]) == 1 && acc != nil
	return acc, ok
}

// parseBasic reads an Authorization header. scheme is the scheme the client used (so NTLM or
// Negotiate attempts can be reported); ok is false when it is not a usable Basic credential.
func parseBasic(h string) (scheme, user, password string, ok bool) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return scheme, "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return scheme, "", "", false
	}
	user, password, ok = strings.Cut(string(raw), ":")
	return "Basic", user, password, ok
}

// Failed-login throttling. Each source address gets a few free failures; past them it is
// refused (429, without checking any password) for a time that doubles with each further
// failure, up to maxBlock. Only the failing address is refused, so an attacker cannot lock
// out endpoints at other addresses, and while blocked an attacker learns nothing. A real
// endpoint with a mistyped password recovers within maxBlock of being fixed.
const (
	freeFailures  = 5
	firstBlock    = 2 * time.Second
	maxBlock      = 5 * time.Minute
	failureMemory = 15 * time.Minute // failures older than this are forgotten
	// maxTracked bounds the table; when full, the longest-idle entry goes.
	maxTracked = 10000
)

type sourceState struct {
	failures     int
	last         time.Time
	blockedUntil time.Time
	lastEvent    time.Time // last auth-failure event emitted for this source
	sinceEvent   int       // failures since that event
}

// throttle tracks failed logins per source. IPv6 sources are grouped by /64, the block one
// host usually has.
type throttle struct {
	mu      sync.Mutex
	sources map[netip.Addr]*sourceState
}

func newThrottle() *throttle { return &throttle{sources: map[netip.Addr]*sourceState{}} }

// sourceKey is the address a client is throttled by.
func sourceKey(remoteAddr string) netip.Addr {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// blocked reports whether src must wait, and until when.
func (t *throttle) blocked(src netip.Addr, now time.Time) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sources[src]
	if s == nil || !now.Before(s.blockedUntil) {
		return time.Time{}, false
	}
	return s.blockedUntil, true
}

// failure records a failed login. It reports whether an auth-failure event should be emitted
// now (at most one per source per minute, carrying the count since the last one) and how many
// failures that event covers.
func (t *throttle) failure(src netip.Addr, now time.Time) (emit bool, count int, blockedUntil time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sources[src]
	if s == nil {
		if len(t.sources) >= maxTracked {
			t.evictLocked(now)
		}
		s = &sourceState{}
		t.sources[src] = s
	}
	if now.Sub(s.last) > failureMemory {
		s.failures = 0
	}
	s.failures++
	s.last = now
	s.sinceEvent++
	s.blockedUntil = time.Time{}
	if s.failures > freeFailures {
		d := firstBlock << min(s.failures-freeFailures-1, 20)
		s.blockedUntil = now.Add(min(d, maxBlock))
	}
	if s.lastEvent.IsZero() || now.Sub(s.lastEvent) >= time.Minute {
		emit, count = true, s.sinceEvent
		s.lastEvent, s.sinceEvent = now, 0
	}
	return emit, count, s.blockedUntil
}

// evictLocked drops forgotten entries, or the longest-idle one.
func (t *throttle) evictLocked(now time.Time) {
	var oldest netip.Addr
	var oldestAt time.Time
	for k, s := range t.sources {
		if now.Sub(s.last) > failureMemory && !now.Before(s.blockedUntil) {
			delete(t.sources, k)
			continue
		}
		if oldestAt.IsZero() || s.last.Before(oldestAt) {
			oldest, oldestAt = k, s.last
		}
	}
	if len(t.sources) >= maxTracked {
		delete(t.sources, oldest)
	}
}
