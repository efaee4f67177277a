package googlesim

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"time"
)

// Google's limits (per-user and per-project requests per minute, a daily project quota),
// injected faults, latency and the counters tests read.

// Stats are the simulator's counters (GET /google/stats).
type Stats struct {
	Requests            int                       `json:"requests"`
	Tokens              int                       `json:"tokens"` // access tokens issued
	TokenRequests       int                       `json:"token_requests"`
	DelegationRefusals  int                       `json:"delegation_refusals"` // unauthorized_client
	AuthFailures        int                       `json:"auth_failures"`       // API calls refused 401
	RateLimited         int                       `json:"rate_limited"`
	Faults              int                       `json:"faults"`
	DailyRequests       int                       `json:"daily_requests"` // requests counted against today's quota
	Notifications       int                       `json:"notifications"`
	NotificationsLost   int                       `json:"notifications_lost"`
	NotificationsFailed int                       `json:"notifications_failed"`
	Calendars           map[string]*CalendarStats `json:"calendars"` // by mailbox
	Users               map[string]*UserStats     `json:"users"`     // by principal
}

// CalendarStats count one room calendar's requests.
type CalendarStats struct {
	Requests      int            `json:"requests"`
	ByMethod      map[string]int `json:"by_method"`
	RateLimited   int            `json:"rate_limited"`
	Faults        int            `json:"faults"`
	FullSyncs     int            `json:"full_syncs"`  // events.list without pageToken or syncToken
	Incremental   int            `json:"incremental"` // events.list with a syncToken
	Pages         int            `json:"pages"`       // events.list with a pageToken
	Gone          int            `json:"gone"`        // 410 fullSyncRequired answers
	Notifications int            `json:"notifications"`
	// EarlyRetries are requests sent before the Retry-After of the calendar's last rate-limit
	// answer had passed (SetCalendarRateLimit).
	EarlyRetries int `json:"early_retries"`
}

// UserStats count one principal's (delegation subject or service account) requests.
type UserStats struct {
	Requests      int `json:"requests"`
	RateLimited   int `json:"rate_limited"`
	PeakPerMinute int `json:"peak_per_minute"`
}

type statsState struct{ Stats }

func (st *statsState) reset() {
	st.Stats = Stats{Calendars: map[string]*CalendarStats{}, Users: map[string]*UserStats{}}
}

func (st *statsState) cal(mb string) *CalendarStats {
	c := st.Calendars[mb]
	if c == nil {
		c = &CalendarStats{ByMethod: map[string]int{}}
		st.Calendars[mb] = c
	}
	return c
}

func (st *statsState) user(p string) *UserStats {
	u := st.Users[p]
	if u == nil {
		u = &UserStats{}
		st.Users[p] = u
	}
	return u
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats.Stats
	out.DailyRequests = s.limits.dayCount
	out.Calendars = map[string]*CalendarStats{}
	for k, v := range s.stats.Calendars {
		c := *v
		c.ByMethod = maps.Clone(v.ByMethod)
		out.Calendars[k] = &c
	}
	out.Users = map[string]*UserStats{}
	for k, v := range s.stats.Users {
		u := *v
		out.Users[k] = &u
	}
	return out
}

// CalendarStats returns one calendar's counters (by mailbox or resource email).
func (s *Server) CalendarStats(calendar string) CalendarStats {
	mb, ok := s.resolve(calendar)
	if !ok {
		mb = normalize(calendar)
	}
	st := s.Stats()
	if c := st.Calendars[mb]; c != nil {
		return *c
	}
	return CalendarStats{ByMethod: map[string]int{}}
}

// ResetStats zeroes the counters (not the rate windows or the daily quota).
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.reset()
}

func (s *Server) countToken() {
	s.mu.Lock()
	s.stats.TokenRequests++
	s.mu.Unlock()
}

// window counts requests per second over the last minute.
type window struct {
	slot  [60]int64
	count [60]int
}

func (w *window) add(now time.Time) {
	sec := now.Unix()
	i := sec % 60
	if w.slot[i] != sec {
		w.slot[i], w.count[i] = sec, 0
	}
	w.count[i]++
}

func (w *window) total(now time.Time) int {
	sec, n := now.Unix(), 0
	for i := range w.slot {
		if sec-w.slot[i] < 60 && w.slot[i] <= sec {
			n += w.count[i]
		}
	}
	return n
}

type limitState struct {
	users    map[string]*window
	project  window
	day      string
	dayCount int
}

// quotaDay is the day the daily quota counts in (Google resets it at midnight Pacific time).
func quotaDay(t time.Time) string {
	if loc, err := time.LoadLocation("America/Los_Angeles"); err == nil {
		t = t.In(loc)
	}
	return t.Format("2006-01-02")
}

// admit applies the limits to one request of principal; nil means it may proceed.
func (s *Server) admit(principal, mailbox string, now time.Time) *apiError {
	if s.limits.users == nil {
		s.limits.users = map[string]*window{}
	}
	if d := quotaDay(now); d != s.limits.day {
		s.limits.day, s.limits.dayCount = d, 0
	}
	uw := s.limits.users[principal]
	if uw == nil {
		uw = &window{}
		s.limits.users[principal] = uw
	}
	var e *apiError
	th := s.throttles[mailbox]
	if th != nil && now.Before(th.until) {
		s.stats.cal(mailbox).EarlyRetries++
	}
	switch {
	case th != nil && th.refuse(now):
		e = newAPIError(429, "rateLimitExceeded", "usageLimits", "Rate Limit Exceeded")
		e.retryAfter = th.until.Sub(now)
	case s.limits.dayCount >= s.settings.DailyQuota:
		e = newAPIError(403, "dailyLimitExceeded", "usageLimits", "Daily Limit Exceeded")
	case s.limits.project.total(now) >= s.settings.ProjectRateLimit:
		e = newAPIError(429, "rateLimitExceeded", "usageLimits", "Rate Limit Exceeded")
	case uw.total(now) >= s.settings.UserRateLimit:
		e = newAPIError(403, "userRateLimitExceeded", "usageLimits", "User Rate Limit Exceeded")
	}
	us := s.stats.user(principal)
	if e != nil {
		s.stats.RateLimited++
		us.RateLimited++
		if mailbox != "" {
			s.stats.cal(mailbox).RateLimited++
		}
		return e
	}
	if th != nil {
		th.sent = append(th.sent, now)
	}
	uw.add(now)
	s.limits.project.add(now)
	s.limits.dayCount++
	us.Requests++
	us.PeakPerMinute = max(us.PeakPerMinute, uw.total(now))
	return nil
}

// Fault makes matching API calls fail with a Google error.
type Fault struct {
	ID       string `json:"id,omitempty"`
	Calendar string `json:"calendar,omitempty"` // mailbox or resource email; "" = every calendar
	Method   string `json:"method,omitempty"`   // events.list, events.watch, ...; "" = every method
	// Reason is Google's reason: rateLimitExceeded (403 unless Code 429), userRateLimitExceeded,
	// quotaExceeded, backendError (500), notFound, forbidden, fullSyncRequired (410), ...
	Reason  string `json:"reason"`
	Code    int    `json:"code,omitempty"`    // default from the reason
	Message string `json:"message,omitempty"` // default from the reason
	Count   int    `json:"count,omitempty"`   // answers to give; 0 = until removed
	mailbox string
}

var faultDefaults = map[string]struct {
	code        int
	domain, msg string
}{
	"rateLimitExceeded":     {403, "usageLimits", "Rate Limit Exceeded"},
	"userRateLimitExceeded": {403, "usageLimits", "User Rate Limit Exceeded"},
	"quotaExceeded":         {403, "usageLimits", "Calendar usage limits exceeded."},
	"dailyLimitExceeded":    {403, "usageLimits", "Daily Limit Exceeded"},
	"backendError":          {500, "global", "Backend Error"},
	"notFound":              {404, "global", "Not Found"},
	"forbidden":             {403, "global", "Forbidden"},
	"fullSyncRequired":      {410, "calendar", "Sync token is no longer valid, a full sync is required."},
	"serviceUnavailable":    {503, "global", "The service is currently unavailable."},
}

// AddFault installs a fault and returns its id.
func (s *Server) AddFault(f Fault) (string, error) {
	d, ok := faultDefaults[f.Reason]
	if !ok && f.Code == 0 {
		return "", fmt.Errorf("fault reason %q: give a code, or one of rateLimitExceeded, userRateLimitExceeded, quotaExceeded, dailyLimitExceeded, backendError, notFound, forbidden, fullSyncRequired, serviceUnavailable", f.Reason)
	}
	if f.Code == 0 {
		f.Code = d.code
	}
	if f.Message == "" {
		f.Message = d.msg
	}
	if f.Calendar != "" {
		mb, ok := s.resolve(f.Calendar)
		if !ok {
			return "", fmt.Errorf("fault calendar %s: not found", f.Calendar)
		}
		f.mailbox = mb
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faultSeq++
	f.ID = fmt.Sprintf("f%d", s.faultSeq)
	s.faults = append(s.faults, &f)
	return f.ID, nil
}

// Faults lists the installed faults.
func (s *Server) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Fault{}
	for _, f := range s.faults {
		out = append(out, *f)
	}
	return out
}

// RemoveFault deletes one fault; ClearFaults all.
func (s *Server) RemoveFault(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.ID == id {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			return
		}
	}
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *Server) takeFault(mailbox, method string) *apiError {
	for i, f := range s.faults {
		if (f.mailbox != "" && f.mailbox != mailbox) || (f.Method != "" && f.Method != method) {
			continue
		}
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
		}
		domain := "global"
		if d, ok := faultDefaults[f.Reason]; ok {
			domain = d.domain
		}
		return newAPIError(f.Code, f.Reason, domain, f.Message)
	}
	return nil
}

// api wraps a handler with Google's front: the bearer token (and its scopes), the limits,
// injected faults, latency and the counters.
func (s *Server) api(method string, h func(http.ResponseWriter, *http.Request, *accessToken)) http.HandlerFunc {
	scopes := []string{ScopeCalendarReadonly, ScopeCalendar, ScopeEventsReadonly, ScopeEvents}
	if method == "resources.calendars.list" {
		scopes = []string{ScopeDirectoryResourceRead, ScopeDirectoryResource}
	}
	return func(w http.ResponseWriter, r *http.Request) {
		mailbox := ""
		if id := r.PathValue("calendarId"); id != "" {
			if mb, ok := s.resolve(id); ok {
				mailbox = mb
			}
		}
		s.mu.Lock()
		s.stats.Requests++
		if mailbox != "" {
			c := s.stats.cal(mailbox)
			c.Requests++
			c.ByMethod[method]++
		}
		latency := time.Duration(s.settings.Latency)
		s.mu.Unlock()
		sleep(r.Context(), latency)
		at, e := s.authorize(r, scopes...)
		if e != nil {
			if e.Code == http.StatusUnauthorized {
				s.mu.Lock()
				s.stats.AuthFailures++
				s.mu.Unlock()
			}
			writeAPIError(w, e)
			return
		}
		// Google counts per-user limits per quotaUser when one is given (a server acting for
		// many users), else per authenticated principal.
		quotaUser := at.principal
		if qu := r.URL.Query().Get("quotaUser"); qu != "" && len(qu) <= 40 {
			quotaUser = qu
		}
		s.mu.Lock()
		e = s.admit(quotaUser, mailbox, s.now())
		if e == nil {
			if e = s.takeFault(mailbox, method); e != nil {
				s.stats.Faults++
				if mailbox != "" {
					s.stats.cal(mailbox).Faults++
				}
			}
		}
		s.mu.Unlock()
		if e != nil {
			writeAPIError(w, e)
			return
		}
		h(w, r, at)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// throttle is one calendar's own rate limit: n requests per period, then 429
// rateLimitExceeded with Retry-After until the oldest of them leaves the period (Google
// throttles a calendar that is read too often on its own, whoever reads it).
type throttle struct {
	n      int
	period time.Duration
	sent   []time.Time
	until  time.Time // the last refusal's Retry-After ran out then
}

func (th *throttle) refuse(now time.Time) bool {
	keep := th.sent[:0]
	for _, t := range th.sent {
		if now.Sub(t) < th.period {
			keep = append(keep, t)
		}
	}
	th.sent = keep
	if len(th.sent) < th.n {
		return false
	}
	th.until = th.sent[0].Add(th.period)
	return true
}

// SetCalendarRateLimit lets calendar (mailbox or resource email) answer n requests per
// period, and 429 rateLimitExceeded with Retry-After beyond (n 0 removes the limit).
// Requests sent before that Retry-After passed are counted as EarlyRetries.
func (s *Server) SetCalendarRateLimit(calendar string, n int, period time.Duration) error {
	mb, ok := s.resolve(calendar)
	if !ok {
		return fmt.Errorf("calendar %s: not found", calendar)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		delete(s.throttles, mb)
		return nil
	}
	s.throttles[mb] = &throttle{n: n, period: period}
	return nil
}
