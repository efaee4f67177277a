package graph

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// The integration's health line (updateHealth): from the rooms' statuses, the token gate, the
// budget and the client certificate's expiry; and how loudly a room's status is logged.

// healthInputs is what of a step's doing can change the health line: its room's status, the
// token gate and the budget (under s.mu).
type healthInputs struct {
	status    string
	gate      *failure
	exhausted bool
}

func (s *Syncer) healthInputs(r *room) healthInputs {
	return healthInputs{status: r.state.Status, gate: s.gate.fail, exhausted: s.budget.exhausted}
}

func (s *Syncer) updateHealth() {
	s.mu.Lock()
	var bad []string
	counts := map[string]int{}
	pending := 0
	for _, r := range s.list {
		n := r.spec.Mailbox
		switch r.state.Status {
		case store.RoomOK:
		case store.RoomPending, "":
			pending++
		default:
			counts[r.state.Status]++
			bad = append(bad, n+" "+r.state.Status)
		}
	}
	total := len(s.order)
	gate := s.gate.fail
	exhausted := s.budget.exhausted
	probe := s.probeFailing()
	s.mu.Unlock()
	expiring := s.certificateExpiring()
	switch {
	case gate != nil:
		s.health.Fail(s.component, gate.detail)
	case total > 0 && len(bad) == total:
		s.health.Fail(s.component, fmt.Sprintf("no room syncs: %s", summarize(counts)))
	case exhausted:
		s.health.Warn(s.component, fmt.Sprintf("the daily budget of %d Graph requests is used up; rooms show what they have until midnight", s.budget.limit))
	case len(bad) > 0:
		sort.Strings(bad)
		s.health.Warn(s.component, fmt.Sprintf("%d of %d rooms not syncing (%s): %s", len(bad), total, summarize(counts), strings.Join(bad[:min(3, len(bad))], ", ")))
	case probe != "":
		s.health.Warn(s.component, probe)
	case expiring != "":
		s.health.Warn(s.component, expiring)
	case pending > 0:
		s.health.OK(s.component, fmt.Sprintf("first sync: %d of %d rooms done", total-pending, total))
	default:
		s.health.OK(s.component, fmt.Sprintf("%d rooms in sync", total))
	}
}

// probeFailing says what a change probe failing for probeFailingWarn means; "" otherwise
// (under s.mu).
func (s *Syncer) probeFailing() string {
	pr := s.pr
	if pr == nil || pr.failingAt.IsZero() || s.clk.Now().Sub(pr.failingAt) < probeFailingWarn {
		return ""
	}
	return fmt.Sprintf("the change probe (getSchedule) has failed since %s (%d requests; last: %s): rooms sync, but a change reaches "+
		"the codecs only at its room's next poll (the plain intervals, which the budget stretches) instead of within seconds; "+
		"the last error says why (a room's mailbox or its free/busy sharing, throttling, the network)",
		pr.failingAt.UTC().Format(time.RFC3339), pr.failures, pr.stats.LastError)
}

// certificateExpiring says what to do when the client certificate expires soon; "" otherwise.
func (s *Syncer) certificateExpiring() string {
	certs := s.in.ClientCertificates
	if len(certs) == 0 {
		return ""
	}
	end := certs[0].NotAfter
	if left := end.Sub(s.clk.Now()); left > CertificateWarnAhead {
		return ""
	}
	return fmt.Sprintf("the client certificate (thumbprint %s) expires on %s: upload its successor to the app registration, "+
		"put it in client_certificate_file and run otj-edge reload", s.in.CertificateThumbprint(), end.UTC().Format(time.DateOnly))
}

func slogLevel(status string) slog.Level {
	switch status {
	case store.RoomThrottled, store.RoomTransient, store.RoomOK, store.RoomPending:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func summarize(counts map[string]int) string {
	var parts []string
	for k, v := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", v, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
