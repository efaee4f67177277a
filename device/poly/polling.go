package poly

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/store"
)

// Poll tracking. A Poly endpoint polls in bursts (GetFolder, FindItem, a few GetItem); a
// request more than burstGap after the previous one, or maxBurst after the burst began,
// starts a new poll. The usual interval is the median of the last few gaps between polls, so
// one reboot or outage does not skew it.
const (
	burstGap = 10 * time.Second
	maxBurst = time.Minute
	keepGaps = 9
	// assumedInterval stands in for the usual interval until two polls have been seen, so an
	// endpoint that polled once and went quiet still raises the alarm.
	assumedInterval = 5 * time.Minute
	// checkEvery is how often the monitor looks for silent endpoints.
	checkEvery = 15 * time.Second
	// firstPollGrace is how long after start an endpoint that never polled is reported.
	firstPollGrace = 15 * time.Minute
)

// pollState is what the service knows about one endpoint's polling.
type pollState struct {
	lastRequest time.Time
	burstStart  time.Time
	gaps        []time.Duration
	every       time.Duration // learned usual interval (0: not yet)
	state       string        // store.Endpoint* state
	detail      string
	lastFailure time.Time // last request with this endpoint's user name and a wrong password
	neverWarned bool      // the never-polled warning is up
	waiting     bool      // its room has not synced yet: the endpoint is told to retry
}

// interval is the interval the alarm works with.
func (p *pollState) interval() time.Duration {
	if p.every > 0 {
		return p.every
	}
	return assumedInterval
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// polyData is the driver-specific part of a Poly endpoint's store row.
type polyData struct {
	REST *restStatus `json:"rest,omitempty"`
}

// loadPollState reads what the store remembers (the usual interval survives restarts).
func (s *Service) loadPollState(ctx context.Context) {
	for _, a := range s.list {
		e, ok, err := s.st.Endpoint(ctx, a.Name)
		p := &pollState{state: store.EndpointUnknown}
		if err == nil && ok {
			// The last poll is remembered for the alarm, but not as the start of a burst: the
			// gap across an agent restart says nothing about the endpoint's interval.
			p.every = e.PollEvery
			p.lastRequest = e.LastPoll
			if e.State == store.EndpointNotPolling || e.State == store.EndpointUp || e.State == store.EndpointAuthFailed {
				p.state = e.State
			}
		}
		s.pollMu.Lock()
		s.polls[a.Name] = p
		s.pollMu.Unlock()
	}
}

// polled records an authenticated request from an endpoint; waiting says its room has not
// synced yet. The store row is written when a new poll begins (not on every request of a
// burst) or when the state changes.
func (s *Service) polled(ctx context.Context, a *account, now time.Time, waiting bool) {
	s.pollMu.Lock()
	p := s.polls[a.Name]
	if p == nil {
		p = &pollState{state: store.EndpointUnknown}
		s.polls[a.Name] = p
	}
	newPoll := p.lastRequest.IsZero() || now.Sub(p.lastRequest) > burstGap || now.Sub(p.burstStart) > maxBurst
	wasSilent := p.state == store.EndpointNotPolling
	silentFor := now.Sub(latest(p.lastRequest, p.lastFailure))
	if newPoll {
		if !p.burstStart.IsZero() && !wasSilent && now.Sub(p.lastRequest) > burstGap {
			p.gaps = append(p.gaps, now.Sub(p.burstStart))
			if len(p.gaps) > keepGaps {
				p.gaps = p.gaps[len(p.gaps)-keepGaps:]
			}
			p.every = median(p.gaps).Round(time.Second)
		}
		p.burstStart = now
	}
	p.lastRequest = now
	changed := p.state != store.EndpointUp || p.waiting != waiting
	detail := ""
	if waiting {
		detail = waitingDetail
	}
	p.state, p.detail, p.neverWarned, p.waiting = store.EndpointUp, detail, false, waiting
	every := p.every
	certDetail, refused := s.certRefused(a)
	// While the room waits for its first sync the endpoint's calendar is OFFLINE by our own
	// answer: an early REST check would only find that again.
	if r := s.rest[a.Name]; r != nil && r.Calendar != "" && r.Calendar != "ONLINE" && !waiting {
		s.wakeREST(a)
	}
	s.pollMu.Unlock()

	if !newPoll && !changed {
		return
	}
	s.reportHealth(a)
	err := s.st.Write(ctx, func(tx *store.Tx) error {
		e, err := s.endpointRow(tx, a)
		if err != nil {
			return err
		}
		e.State, e.Detail = store.EndpointUp, detail
		if refused { // polling is fine, but the row shows what needs an operator
			e.State, e.Detail = store.EndpointCertChanged, certDetail
		}
		e.LastPoll, e.LastContact, e.PollEvery = now, now, every
		if err := tx.PutEndpoint(e); err != nil {
			return err
		}
		if wasSilent {
			return tx.Emit(store.Event{Kind: "endpoint.polling", Level: "info", Room: a.room, Endpoint: a.Name,
				Message: fmt.Sprintf("%s is polling the calendar service again after %s of silence", a.Name, silentFor.Round(time.Second)),
				Data:    map[string]any{"silent_seconds": int(silentFor.Seconds())}})
		}
		return nil
	})
	if err != nil {
		s.log.Warn("ews: record poll", "endpoint", a.Name, "err", err)
	}
}

// authFailed records a wrong password for a known endpoint's user name.
func (s *Service) authFailed(ctx context.Context, a *account, source string, emit bool, count int) {
	s.pollMu.Lock()
	p := s.polls[a.Name]
	if p == nil {
		p = &pollState{}
		s.polls[a.Name] = p
	}
	changed := p.state != store.EndpointAuthFailed
	p.state = store.EndpointAuthFailed
	p.detail = "wrong calendar password from " + source
	p.lastFailure = s.clock.Now()
	s.pollMu.Unlock()
	if changed {
		s.reportHealth(a)
	}
	if !changed && !emit {
		return
	}
	err := s.st.Write(ctx, func(tx *store.Tx) error {
		if changed {
			e, err := s.endpointRow(tx, a)
			if err != nil {
				return err
			}
			e.State, e.Detail = store.EndpointAuthFailed, "wrong calendar password from "+source
			if err := tx.PutEndpoint(e); err != nil {
				return err
			}
		}
		if emit {
			return authEvent(tx, a, source, count)
		}
		return nil
	})
	if err != nil {
		s.log.Warn("ews: record auth failure", "endpoint", a.Name, "err", err)
	}
}

func authEvent(tx *store.Tx, a *account, source string, count int) error {
	ev := store.Event{Kind: "ews.auth_failed", Level: "warn",
		Message: fmt.Sprintf("calendar service login failed from %s", source),
		Data:    map[string]any{"source": source, "failures": count}}
	if a != nil {
		ev.Endpoint, ev.Room = a.Name, a.room
		ev.Message = fmt.Sprintf("calendar service login for %s failed from %s: wrong password", a.Name, source)
	}
	return tx.Emit(ev)
}

// endpointRow reads the endpoint's row, or starts one when the agent has not written it yet.
func (s *Service) endpointRow(tx *store.Tx, a *account) (store.EndpointState, error) {
	return tx.EndpointOr(store.EndpointState{Name: a.Name, Type: "poly", Room: a.room, State: store.EndpointUnknown})
}

// monitor raises and clears the "endpoint not polling" alarm and the never-polled warning.
func (s *Service) monitor(ctx context.Context) {
	started := s.clock.Now()
	for {
		if !clock.Sleep(s.clock, checkEvery, ctx.Done()) {
			return
		}
		now := s.clock.Now()
		for _, a := range s.list {
			s.checkPolling(ctx, a, now, started)
		}
	}
}

func (s *Service) checkPolling(ctx context.Context, a *account, now, started time.Time) {
	s.pollMu.Lock()
	p := s.polls[a.Name]
	if p == nil || p.state == store.EndpointNotPolling {
		s.pollMu.Unlock()
		return
	}
	if p.lastRequest.IsZero() && p.lastFailure.IsZero() {
		if now.Sub(started) >= firstPollGrace && !p.neverWarned {
			p.neverWarned = true
			s.pollMu.Unlock()
			s.reportHealth(a)
			return
		}
		s.pollMu.Unlock()
		return
	}
	limit := time.Duration(float64(p.interval()) * s.opts.NotPollingFactor)
	// Silence is counted from the service's start at the earliest: an agent that was down
	// for an hour must give endpoints time to come back before calling them silent.
	heard := latest(p.lastRequest, p.lastFailure, started)
	silent := now.Sub(heard)
	if silent <= limit {
		s.pollMu.Unlock()
		return
	}
	every, last := p.interval(), p.lastRequest
	silent = now.Sub(latest(p.lastRequest, p.lastFailure))
	p.state = store.EndpointNotPolling
	p.detail = fmt.Sprintf("no poll for %s (usually every %s)", silent.Round(time.Second), every)
	s.pollMu.Unlock()

	s.reportHealth(a)
	lastText := "never"
	if !last.IsZero() {
		lastText = last.UTC().Format(time.RFC3339)
	}
	err := s.st.Write(ctx, func(tx *store.Tx) error {
		e, err := s.endpointRow(tx, a)
		if err != nil {
			return err
		}
		e.State = store.EndpointNotPolling
		e.Detail = fmt.Sprintf("no poll since %s (usually every %s)", lastText, every)
		if err := tx.PutEndpoint(e); err != nil {
			return err
		}
		return tx.Emit(store.Event{Kind: "endpoint.not_polling", Level: "warn", Room: a.room, Endpoint: a.Name,
			Message: fmt.Sprintf("%s has not polled the calendar service for %s (usually every %s)", a.Name, silent.Round(time.Second), every),
			Data:    map[string]any{"last_poll": lastText, "usual_interval_seconds": int(every.Seconds())}})
	})
	if err != nil {
		s.log.Warn("ews: record not-polling alarm", "endpoint", a.Name, "err", err)
	} else {
		s.log.Warn("endpoint not polling", "endpoint", a.Name, "silent", silent.Round(time.Second), "usual_interval", every)
	}
}

// reportHealth sets poly/<endpoint> from the polling state and the REST health check.
func (s *Service) reportHealth(a *account) {
	if s.health == nil {
		return
	}
	s.pollMu.Lock()
	p := s.polls[a.Name]
	var state, detail string
	var every time.Duration
	var neverWarned, waiting bool
	if p != nil {
		state, detail, every, neverWarned, waiting = p.state, p.detail, p.every, p.neverWarned, p.waiting
	}
	rest := s.rest[a.Name]
	s.pollMu.Unlock()

	comp := "poly/" + a.Name
	level, msg := "ok", ""
	switch state {
	case store.EndpointUp:
		msg = "polling the calendar service"
		if every > 0 {
			msg = fmt.Sprintf("polling the calendar service about every %s", every.Round(time.Second))
		}
		if waiting {
			msg += "; " + detail
		}
	case store.EndpointNotPolling:
		level, msg = "warn", detail+": check that the endpoint is on and its calendaring settings still point at this agent"
	case store.EndpointAuthFailed:
		level, msg = "warn", fmt.Sprintf("%s: the endpoint's calendar password differs from calendar_password for user %s", detail, a.Username)
	default:
		msg = "waiting for the first poll"
		if neverWarned {
			level, msg = "warn", fmt.Sprintf("has not polled the calendar service yet: set the endpoint's Exchange server to this agent and user %s", a.Username)
		}
	}
	if rest != nil {
		if rest.Error != "" {
			level = "warn"
			msg += "; REST health: " + rest.Error
		} else if rest.Calendar != "" && rest.Calendar != "ONLINE" && !(waiting && rest.Calendar == "OFFLINE") {
			level = "warn"
			msg += fmt.Sprintf("; the endpoint reports its calendar as %s", rest.Calendar)
		} else if rest.Software != "" {
			msg += fmt.Sprintf("; %s %s", rest.Model, rest.Software)
		}
	}
	if level == "ok" {
		s.health.OK(comp, msg)
	} else {
		s.health.Warn(comp, msg)
	}
}

// latest is the latest of some times.
func latest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}
