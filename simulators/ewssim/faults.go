package ewssim

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

var errNotFound = graphsim.ErrNotFound

// Fault kinds.
const (
	// FaultServerBusy answers ErrorServerBusy (SOAP fault, HTTP 500) with BackOffMilliseconds.
	FaultServerBusy = "server_busy"
)

// Fault is an injected failure for requests about Mailbox ("" = any) running Operation ("" =
// any, e.g. "SyncFolderItems"), Count times (0 = no count limit) and for Duration after it was
// added (0 = no time limit). With neither limit it stays until removed.
type Fault struct {
	ID                  int               `json:"id"`
	Kind                string            `json:"kind"`
	Mailbox             string            `json:"mailbox,omitempty"`
	Operation           string            `json:"operation,omitempty"`
	BackOffMilliseconds int               `json:"back_off_ms,omitempty"`
	Count               int               `json:"count,omitempty"`
	Duration            graphsim.Duration `json:"duration,omitempty"`
	Hits                int               `json:"hits"`
	until               time.Time
}

// AddFault injects a fault and returns its id.
func (s *Server) AddFault(f Fault) (int, error) {
	if f.Kind == "" {
		f.Kind = FaultServerBusy
	}
	if f.Kind != FaultServerBusy {
		return 0, fmt.Errorf("fault kind %q: want server_busy", f.Kind)
	}
	if f.BackOffMilliseconds < 0 || f.Count < 0 || f.Duration < 0 {
		return 0, errors.New("fault: back_off_ms, count and duration must not be negative")
	}
	f.Mailbox = strings.ToLower(f.Mailbox)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faultSeq++
	f.ID, f.Hits = s.faultSeq, 0
	if f.Duration > 0 {
		f.until = s.now().Add(time.Duration(f.Duration))
	}
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
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("fault %d: %w", id, errNotFound)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *Server) takeFault(mailbox, op string, now time.Time) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < len(s.faults); i++ {
		f := s.faults[i]
		if !f.until.IsZero() && !now.Before(f.until) {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			i--
			continue
		}
		if (f.Mailbox != "" && f.Mailbox != mailbox) || (f.Operation != "" && !strings.EqualFold(f.Operation, op)) {
			continue
		}
		f.Hits++
		hit := *f
		if f.Count > 0 && f.Hits >= f.Count {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		return &hit
	}
	return nil
}

// MailboxStats are the counters of one mailbox.
type MailboxStats struct {
	Requests      int            `json:"requests"`
	ByOperation   map[string]int `json:"by_operation"` // requests by EWS operation
	ServerBusy    int            `json:"server_busy"`  // ErrorServerBusy answers
	Faults        int            `json:"faults"`       // SOAP faults other than ErrorServerBusy (impersonation...)
	Notifications int            `json:"notifications"`
}

// AccountStats are the counters of one account.
type AccountStats struct {
	Requests        int `json:"requests"`
	ServerBusy      int `json:"server_busy"`
	PeakConcurrency int `json:"peak_concurrency"` // most EWS requests in flight at once (streams excluded)
	PeakStreams     int `json:"peak_streams"`
}

// Stats is GET /ews/stats.
type Stats struct {
	Requests      int `json:"requests"`
	ServerBusy    int `json:"server_busy"`
	AuthFailures  int `json:"auth_failures"` // 401s after a complete handshake or bad Basic
	EPARefusals   int `json:"epa_refusals"`  // of which: right password, no channel binding
	Notifications int `json:"notifications"`
	// AffinityRefusals counts subscriptions a GetStreamingEvents named that live on another
	// server than its affinity cookie routes to (require_affinity: answered ErrorSubscriptionNotFound).
	AffinityRefusals int                     `json:"affinity_refusals"`
	Mailboxes        map[string]MailboxStats `json:"mailboxes"`
	Accounts         map[string]AccountStats `json:"accounts"`
}

type statsState struct{ Stats }

func (st *statsState) reset() {
	st.Stats = Stats{Mailboxes: map[string]MailboxStats{}, Accounts: map[string]AccountStats{}}
}

// peak records concurrency (called under s.mu).
func (st *statsState) peak(user string, n int) {
	a := st.Accounts[user]
	a.PeakConcurrency = max(a.PeakConcurrency, n)
	st.Accounts[user] = a
}

func (st *statsState) peakStreams(user string, n int) {
	a := st.Accounts[user]
	a.PeakStreams = max(a.PeakStreams, n)
	st.Accounts[user] = a
}

// count records a request; code is "ErrorServerBusy" for throttled ones.
func (s *Server) count(rc *reqCtx, code string, isFault bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.stats
	st.Requests++
	a := st.Accounts[rc.user]
	a.Requests++
	m := st.Mailboxes[rc.mailbox]
	if m.ByOperation == nil {
		m.ByOperation = map[string]int{}
	}
	m.Requests++
	m.ByOperation[rc.op]++
	if code == "ErrorServerBusy" {
		st.ServerBusy++
		a.ServerBusy++
		m.ServerBusy++
	}
	if isFault {
		m.Faults++
	}
	st.Accounts[rc.user] = a
	st.Mailboxes[rc.mailbox] = m
}

func (s *Server) countAuthFailure(_ string, epa bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.AuthFailures++
	if epa {
		s.stats.EPARefusals++
	}
}

func (s *Server) countNotifications(mailbox string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Notifications += n
	m := s.stats.Mailboxes[mailbox]
	m.Notifications += n
	s.stats.Mailboxes[mailbox] = m
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats.Stats
	out.Mailboxes = map[string]MailboxStats{}
	for k, v := range s.stats.Mailboxes {
		v.ByOperation = maps.Clone(v.ByOperation)
		out.Mailboxes[k] = v
	}
	out.Accounts = maps.Clone(s.stats.Accounts)
	return out
}

// MailboxStats returns one mailbox's counters (zero when none).
func (s *Server) MailboxStats(mailbox string) MailboxStats {
	st := s.Stats().Mailboxes[strings.ToLower(mailbox)]
	if st.ByOperation == nil {
		st.ByOperation = map[string]int{}
	}
	return st
}

// ResetStats zeroes the counters.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.reset()
}
