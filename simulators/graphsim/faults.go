package graphsim

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// FaultKind names what an injected fault does.
type FaultKind string

// Fault kinds.
const (
	// FaultStatus answers with an error status (default 503) and Graph's error body; Code,
	// Message and RetryAfter (seconds) customise it. 429 gives TooManyRequests.
	FaultStatus FaultKind = "status"
	// FaultGarbage answers 200 with a truncated JSON body.
	FaultGarbage FaultKind = "garbage"
	// FaultLatency adds Latency before the answer.
	FaultLatency FaultKind = "latency"
	// FaultDrop closes the connection without an answer.
	FaultDrop FaultKind = "drop"
	// FaultExpireDelta forgets the mailbox's delta state, so this request's token (and every
	// older one) answers 410 SyncStateNotFound.
	FaultExpireDelta FaultKind = "expire_delta"
	// FaultToken makes the token endpoint answer Status (default 503, temporarily_unavailable).
	FaultToken FaultKind = "token"
)

// Fault is an injected failure. It applies to requests for Mailbox ("" = any mailbox; for
// FaultStatus/FaultGarbage/FaultDrop with Path "/$batch", to whole batches) whose path contains
// Path, Count times (0 = until removed).
type Fault struct {
	ID         int       `json:"id"`
	Kind       FaultKind `json:"kind"`
	Mailbox    string    `json:"mailbox,omitempty"`
	Path       string    `json:"path,omitempty"`
	Status     int       `json:"status,omitempty"`
	Code       string    `json:"code,omitempty"`
	Message    string    `json:"message,omitempty"`
	RetryAfter int       `json:"retry_after,omitempty"`
	Latency    Duration  `json:"latency,omitempty"`
	Count      int       `json:"count,omitempty"`
	Hits       int       `json:"hits"`
}

func (d Duration) d() time.Duration { return time.Duration(d) }

// AddFault injects a fault and returns its id.
func (s *Server) AddFault(f Fault) (int, error) {
	switch f.Kind {
	case FaultStatus, FaultGarbage, FaultLatency, FaultDrop, FaultExpireDelta, FaultToken:
	default:
		return 0, fmt.Errorf("fault kind %q: want status, garbage, latency, drop, expire_delta or token", f.Kind)
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return 0, fmt.Errorf("fault status %d: want 400–599", f.Status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faultSeq++
	f.ID, f.Hits = s.faultSeq, 0
	f.Mailbox = strings.ToLower(f.Mailbox)
	s.faults = append(s.faults, &f)
	return f.ID, nil
}

// Faults lists the active faults.
func (s *Server) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, 0, len(s.faults))
	for _, f := range s.faults {
		out = append(out, *f)
	}
	return out
}

// RemoveFault removes one fault.
func (s *Server) RemoveFault(id int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.ID == id {
			s.faults = slices.Delete(s.faults, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("fault %d: %w", id, ErrNotFound)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

// takeFault returns the first fault of the given kinds matching the request and counts the
// hit (under s.mu). mailbox "" matches only faults for any mailbox.
func (s *Server) takeFault(mailbox, path string, kinds ...FaultKind) *Fault {
	for i, f := range s.faults {
		if !slices.Contains(kinds, f.Kind) || (f.Mailbox != "" && f.Mailbox != mailbox) {
			continue
		}
		if f.Path != "" && !strings.Contains(path, f.Path) {
			continue
		}
		if f.Path == "" && mailbox == "" && f.Kind != FaultToken && path == "/$batch" {
			continue // batch-level faults must name the path
		}
		f.Hits++
		hit := *f
		if f.Count > 0 && f.Hits >= f.Count {
			s.faults = slices.Delete(s.faults, i, i+1)
		}
		return &hit
	}
	return nil
}

// MailboxStats are the counters of one mailbox, for tests and the admin API.
type MailboxStats struct {
	Requests      int `json:"requests"`      // Graph requests naming the mailbox (batch parts included)
	MaxInFlight   int `json:"max_in_flight"` // the most requests in flight at once, as seen on arrival
	EarlyRetries  int `json:"early_retries"` // requests made before a Retry-After sent for the mailbox had expired
	Throttled     int `json:"throttled"`     // 429 answers
	FullSyncs     int `json:"full_syncs"`    // delta rounds started with startDateTime/endDateTime
	DeltaPolls    int `json:"delta_polls"`   // requests following a deltaLink
	Pages         int `json:"pages"`         // requests following a nextLink
	EventGets     int `json:"event_gets"`    // GET /events/{id}
	CalendarViews int `json:"calendar_views"`
	// GetSchedules counts getSchedule requests against this mailbox (the URL's, not the
	// schedules named in the body); FreeBusyLookups counts the times a getSchedule named it.
	GetSchedules    int `json:"get_schedules"`
	FreeBusyLookups int `json:"free_busy_lookups"`
	// Statuses counts answers by HTTP status.
	Statuses map[string]int `json:"statuses"`
}

func (m *MailboxStats) countStatus(status int) {
	if m.Statuses == nil {
		m.Statuses = map[string]int{}
	}
	m.Statuses[strconv.Itoa(status)]++
}

// Totals are simulator-wide counters.
type Totals struct {
	Requests      int `json:"requests"` // Graph requests, each batch part one, refused ones (401) included
	TokenRequests int `json:"token_requests"`
	TokenFailures int `json:"token_failures"`
	Batches       int `json:"batches"`
	BatchParts    int `json:"batch_parts"`
	GetSchedules  int `json:"get_schedules"` // getSchedule requests (each also in Requests)
}

// Stats is GET /stats.
type Stats struct {
	Totals
	Mailboxes map[string]MailboxStats `json:"mailboxes"`
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Totals: s.totals, Mailboxes: map[string]MailboxStats{}}
	for addr, mb := range s.boxes {
		st.Mailboxes[addr] = mb.stats.clone()
	}
	return st
}

func (m MailboxStats) clone() MailboxStats {
	m.Statuses = maps.Clone(m.Statuses)
	if m.Statuses == nil {
		m.Statuses = map[string]int{}
	}
	return m
}

// MailboxStats returns one mailbox's counters (zero when unknown).
func (s *Server) MailboxStats(mailbox string) MailboxStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mb := s.boxes[strings.ToLower(mailbox)]; mb != nil {
		return mb.stats.clone()
	}
	return MailboxStats{}
}

// ResetStats zeroes every counter.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.totals = Totals{}
	for _, mb := range s.boxes {
		mb.stats = MailboxStats{}
	}
}

// sortedMailboxes is the mailbox list in order (for deterministic output).
func (s *Server) sortedMailboxes() []string {
	out := make([]string, 0, len(s.boxes))
	for a := range s.boxes {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}
