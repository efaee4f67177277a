package webexsim

import (
	"maps"
	"net/http"
	"strings"
	"time"
)

// bucket is one token's rate limit: a fixed window of RateLimit requests, and once refused, a
// block until the Retry-After it was told has elapsed. Every request inside a block is a
// violation: the client did not wait as long as it was told.
type bucket struct {
	windowStart  time.Time
	count        int
	blockedUntil time.Time
	limited      int
	violations   int
}

// admit decides whether a request of grant id may proceed; when not, wait is the Retry-After
// (whole seconds, at least 1).
func (s *Server) admit(id string) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	b := s.buckets[id]
	if b == nil {
		b = &bucket{windowStart: now}
		s.buckets[id] = b
	}
	if now.Before(b.blockedUntil) {
		b.violations++
		b.limited++
		s.stats.Violations++
		s.stats.RateLimited++
		return ceilSeconds(b.blockedUntil.Sub(now)), true
	}
	if f := &s.faults; f.burstCount > 0 {
		f.burstCount--
		wait := ceilSeconds(f.burstRetryAfter)
		b.blockedUntil = now.Add(wait)
		b.limited++
		s.stats.RateLimited++
		return wait, true
	}
	window := time.Duration(s.settings.RateWindowMS) * time.Millisecond
	if now.Sub(b.windowStart) >= window {
		b.windowStart, b.count = now, 0
	}
	b.count++
	if b.count > s.settings.RateLimit {
		wait := ceilSeconds(b.windowStart.Add(window).Sub(now))
		b.blockedUntil = now.Add(wait)
		b.limited++
		s.stats.RateLimited++
		return wait, true
	}
	return 0, false
}

func ceilSeconds(d time.Duration) time.Duration {
	s := (d + time.Second - 1) / time.Second
	return max(1, s) * time.Second
}

// faultState holds the injected API faults.
type faultState struct {
	burstCount      int           // the next burstCount admitted requests get 429
	burstRetryAfter time.Duration // … with this Retry-After
	errStatus       int           // the next errCount requests under errPrefix get errStatus
	errCount        int
	errPrefix       string
}

// Faults is faultState on the wire (GET/POST /faults).
type Faults struct {
	RateLimitCount       int    `json:"rate_limit_count"`
	RateLimitRetryAfterS int    `json:"rate_limit_retry_after_s"`
	ErrorStatus          int    `json:"error_status"`
	ErrorCount           int    `json:"error_count"`
	ErrorPathPrefix      string `json:"error_path_prefix,omitempty"`
}

// RateLimitBurst makes the next n requests that are not already blocked answer 429 with
// Retry-After retryAfter (rounded up to whole seconds), as a burst of Webex throttling does.
func (s *Server) RateLimitBurst(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.burstCount, s.faults.burstRetryAfter = n, retryAfter
}

// FailNext makes the next n API requests whose path starts with prefix ("" = any) answer
// status (500, 502, 503, 504 …) with Webex's error JSON.
func (s *Server) FailNext(n, status int, prefix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.errCount, s.faults.errStatus, s.faults.errPrefix = n, status, prefix
}

// Faults returns the pending injected faults.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	return Faults{RateLimitCount: f.burstCount, RateLimitRetryAfterS: int(ceilSeconds(f.burstRetryAfter) / time.Second),
		ErrorStatus: f.errStatus, ErrorCount: f.errCount, ErrorPathPrefix: f.errPrefix}
}

// ClearFaults removes every pending API fault (device faults stay: they are device state).
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = faultState{}
}

func (s *Server) takeErrorFault(r *http.Request) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &s.faults
	if f.errCount <= 0 || !strings.HasPrefix(r.URL.Path, f.errPrefix) {
		return 0, false
	}
	f.errCount--
	return f.errStatus, true
}

// Stats are the simulator's counters (GET /stats).
type Stats struct {
	Requests    int            `json:"requests"`
	ByEndpoint  map[string]int `json:"by_endpoint"` // "GET /v1/devices" → n
	ByStatus    map[int]int    `json:"by_status"`
	RateLimited int            `json:"rate_limited"` // 429s answered
	// Violations are requests that arrived while their token was still inside a Retry-After it
	// had been given: zero proves the client always waited as told.
	Violations     int                       `json:"violations"`
	TokenRequests  int                       `json:"token_requests"`
	TokenRefreshes int                       `json:"token_refreshes"` // refresh grants answered with tokens
	TokenFailures  int                       `json:"token_failures"`
	StaleRefreshes int                       `json:"stale_refreshes"` // a rotated-out refresh token used after its grace
	Devices        map[string]DeviceStats    `json:"devices"`         // by device id
	Tokens         map[string]TokenLimitInfo `json:"tokens"`          // rate limit per grant
}

// DeviceStats count the API requests naming one device.
type DeviceStats struct {
	Requests   int            `json:"requests"`
	ByEndpoint map[string]int `json:"by_endpoint"`
	Commands   map[string]int `json:"commands"` // "Bookings.Put" → n
	Puts       int            `json:"puts"`
}

// TokenLimitInfo is one grant's rate-limit counters.
type TokenLimitInfo struct {
	RateLimited int `json:"rate_limited"`
	Violations  int `json:"violations"`
	// BlockedUntil is the end of the Retry-After the grant was last given, while it is still
	// in force: until then every request of that grant is refused (and a violation).
	BlockedUntil *time.Time `json:"blocked_until,omitempty"`
}

type statsState struct {
	Stats
}

func (st *statsState) init() {
	st.ByEndpoint = map[string]int{}
	st.ByStatus = map[int]int{}
	st.Devices = map[string]DeviceStats{}
}

func (s *Server) countRequest(endpoint string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests++
	s.stats.ByEndpoint[endpoint]++
}

func (s *Server) countStatus(code int) {
	if code == 0 {
		code = http.StatusOK
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.ByStatus[code]++
}

// countDeviceLocked counts a request that named device id (command is "" for statuses/reads).
func (s *Server) countDeviceLocked(id, endpoint, command string) {
	ds := s.stats.Devices[id]
	if ds.ByEndpoint == nil {
		ds.ByEndpoint, ds.Commands = map[string]int{}, map[string]int{}
	}
	ds.Requests++
	ds.ByEndpoint[endpoint]++
	if command != "" {
		ds.Commands[command]++
	}
	s.stats.Devices[id] = ds
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats.Stats
	out.ByEndpoint = maps.Clone(s.stats.ByEndpoint)
	out.ByStatus = maps.Clone(s.stats.ByStatus)
	out.Devices = map[string]DeviceStats{}
	for id, ds := range s.stats.Devices {
		ds.ByEndpoint, ds.Commands = maps.Clone(ds.ByEndpoint), maps.Clone(ds.Commands)
		out.Devices[id] = ds
	}
	out.Tokens = map[string]TokenLimitInfo{}
	now := s.now()
	for id, b := range s.buckets {
		info := TokenLimitInfo{RateLimited: b.limited, Violations: b.violations}
		if now.Before(b.blockedUntil) {
			until := b.blockedUntil
			info.BlockedUntil = &until
		}
		out.Tokens[id] = info
	}
	return out
}
