package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/simulators/sim"
)

func init() { register("codec_storm", codecStorm) }

// authRetry is the least time between two login attempts at a codec that answered 403.
const authRetry = 5 * time.Minute

// codecStorm reboots codecs (losing their bookings), cuts their sockets and, on a third of
// them, changes the agent's password so they answer 403, while calendars change. Afterwards
// every codec with the right password must hold the right bookings again, and no codec may
// have seen a second login attempt within 5 minutes of a 403 (codecs lock an account after 5
// failures). With a storm of a minute or more the passwords are then put back and the 403
// codecs must recover on the agent's own 5-minute retry.
func codecStorm(ctx context.Context, e *env, r *Result) error {
	s, err := startSite(ctx, e.bins, e.dir, siteOpts{rooms: e.knobs.Rooms, meetings: 10, cisco: e.knobs.Rooms, config: soakConfig})
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.waitSynced(ctx, 60*time.Second); err != nil {
		return fmt.Errorf("first sync: %w", err)
	}
	if diffs, _ := s.converged(ctx, 30*time.Second); len(diffs) > 0 {
		return fmt.Errorf("codecs did not converge before the storm: %v", diffs)
	}
	codecs := s.sim.File.Cisco
	admin := s.sim.File.CiscoAdmin
	denied := map[string]bool{}
	for i, c := range codecs {
		if i%3 == 1 || len(codecs) == 1 {
			denied[c.Name] = true
			if err := setPassword(ctx, admin, c, "not-the-agents-password"); err != nil {
				return err
			}
			// Cut the connection: the agent logs in again and meets the 403.
			if err := callJSON(ctx, http.MethodPost, admin+"/codecs/"+pathEscape(c.Name)+"/drop", nil, nil); err != nil {
				return err
			}
		}
	}
	r.Counts["codecs"] = len(codecs)
	r.Counts["codecs_403"] = len(denied)
	// The agent logs in again on its own schedule: the storm starts once each of those
	// codecs has answered its 403.
	if err := waitFor(ctx, 90*time.Second, 250*time.Millisecond, func() error {
		for name := range denied {
			var st ciscosim.Stats
			if err := callJSON(ctx, http.MethodGet, admin+"/codecs/"+pathEscape(name)+"/stats", nil, &st); err != nil {
				return err
			}
			if st.Handshakes.ByStatus[http.StatusForbidden] == 0 {
				return fmt.Errorf("%s has not answered 403 yet", name)
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("the agent did not log in again after the password change: %w", err)
	}
	stormStart := time.Now()
	ch := newChurner(s, e.knobs.Seed, 200*time.Millisecond, churnMix{edit: 4, reboot: 3, drop: 3, push: 1})
	ch.start(ctx)
	select {
	case <-ctx.Done():
	case <-time.After(e.knobs.StormFor):
	}
	ch.stop()
	ch.counts(r.Counts)
	if !s.alive() {
		return fmt.Errorf("the agent exited during the storm; see %s", s.agent.Log)
	}
	// The codecs that know the agent's password hold the right bookings again.
	began := time.Now()
	// The codec faults are the subject here: bring the store up to date with Graph first.
	if err := s.syncedSince(ctx, began, 60*time.Second); err != nil {
		return fmt.Errorf("rooms did not sync after the storm: %w", err)
	}
	diffs := s.convergedSome(ctx, func(name string) bool { return !denied[name] }, 60*time.Second)
	r.Counts["restore_seconds"] = time.Since(began).Seconds()
	for _, d := range diffs {
		r.failf("after the storm: %s", d)
	}
	restoreAuth := e.knobs.StormFor >= time.Minute
	if restoreAuth {
		for _, c := range codecs {
			if denied[c.Name] {
				if err := setPassword(ctx, admin, c, c.Password); err != nil {
					return err
				}
			}
		}
		// The agent tries again 5 minutes after the 403, on its own.
		limit := time.Until(stormStart.Add(authRetry + 90*time.Second))
		diffs := s.convergedSome(ctx, func(name string) bool { return denied[name] }, max(limit, 30*time.Second))
		for _, d := range diffs {
			r.failf("after the password was put back: %s", d)
		}
		r.Counts["auth_recovered_after_seconds"] = time.Since(stormStart).Seconds()
	} else {
		r.note("storm shorter than 1m: the 403 codecs' recovery (5 minutes after the 403) is not awaited")
	}
	attempts, locked, answered403 := 0, 0, 0
	for _, c := range codecs {
		var st ciscosim.Stats
		if err := callJSON(ctx, http.MethodGet, admin+"/codecs/"+pathEscape(c.Name)+"/stats", nil, &st); err != nil {
			return err
		}
		if !denied[c.Name] {
			continue
		}
		attempts += len(st.Handshakes.History)
		forbidden := st.Handshakes.ByStatus[http.StatusForbidden]
		answered403 += forbidden
		r.check(forbidden > 0, "%s never answered 403: the fault did not bite", c.Name)
		for _, v := range authViolations(st.Handshakes.History) {
			r.failf("%s: %s", c.Name, v)
		}
		if forbidden >= 5 {
			locked++
		}
	}
	r.Counts["handshakes_at_403_codecs"] = attempts
	r.Counts["codecs_locked_out"] = locked
	r.Counts["answers_403"] = answered403
	r.check(locked == 0, "%d codecs saw 5 or more wrong logins (a real codec locks the account)", locked)
	return nil
}

// setPassword sets the password of the agent's user on a codec.
func setPassword(ctx context.Context, admin string, c sim.CiscoInfo, password string) error {
	return callJSON(ctx, http.MethodPut, admin+"/codecs/"+pathEscape(c.Name)+"/users/"+pathEscape(c.Username),
		map[string]any{"password": password, "roles": []string{"Admin"}}, nil)
}

// authViolations lists every login attempt made less than 5 minutes after one the codec
// answered 403.
func authViolations(h []ciscosim.HandshakeRecord) []string {
	var out []string
	for i := 1; i < len(h); i++ {
		prev := h[i-1]
		if prev.Status == http.StatusForbidden && h[i].At.Sub(prev.At) < authRetry {
			out = append(out, fmt.Sprintf("login attempt at %s, %s after a 403", h[i].At.Format(time.TimeOnly), h[i].At.Sub(prev.At).Round(time.Millisecond)))
		}
	}
	return out
}
