package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/simulators/polysim"
)

func init() { register("wan_down", wanDown) }

// wanDown cuts the agent off from Microsoft 365 (graphsim drops every connection, Graph calls,
// batches and the token endpoint alike) for Outage, and restarts the agent in the middle of
// it. Each room has a meeting that ends about a quarter of the way into the outage and one that starts
// after it. During the outage the later meetings keep their Join buttons on the codecs and on
// the Poly endpoint (after the restart too, served from the store), and the ended meetings
// leave the codecs (cisco.window_past is 0 here, so a meeting leaves when it ends). After the
// outage every room syncs again through its deltaLink: graphsim must count no new full sync.
func wanDown(ctx context.Context, e *env, r *Result) error {
	s, err := startSite(ctx, e.bins, e.dir, siteOpts{rooms: 3, meetings: 5, cisco: 2, poly: 1,
		config: func(cfg map[string]any) {
			soakConfig(cfg)
			cfg["cisco"] = map[string]any{"window_past": "0s", "window_days": 1}
		}})
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.waitSynced(ctx, 60*time.Second); err != nil {
		return fmt.Errorf("first sync: %w", err)
	}
	g := s.graph()
	outage := e.knobs.Outage
	now := time.Now().Truncate(time.Second)
	endsDuring := now.Add(5*time.Second + outage/4)
	later := now.Add(outage + 2*time.Hour).Truncate(time.Minute)
	type room struct{ name, codec, poly string }
	var rooms []room
	for _, c := range s.sim.File.Cisco {
		rooms = append(rooms, room{name: c.Room, codec: c.Name})
	}
	for _, p := range s.sim.File.Poly {
		rooms = append(rooms, room{name: p.Room, poly: p.Name})
	}
	for _, rm := range rooms {
		if _, err := g.post(ctx, rm.name, event("wan ends soon "+rm.name, now.Add(-10*time.Minute), endsDuring)); err != nil {
			return err
		}
		if _, err := g.post(ctx, rm.name, event("wan later "+rm.name, later, later.Add(time.Hour))); err != nil {
			return err
		}
	}
	// Both meetings reach every endpoint before the outage.
	if err := waitFor(ctx, 60*time.Second, 500*time.Millisecond, func() error {
		_ = s.action(ctx, "sync", map[string]any{})
		for _, rm := range rooms {
			titles, err := s.shown(ctx, rm.codec, rm.poly)
			if err != nil {
				return err
			}
			for _, want := range []string{"wan ends soon " + rm.name, "wan later " + rm.name} {
				if !slices.Contains(titles, want) {
					return fmt.Errorf("%s%s does not show %q yet", rm.codec, rm.poly, want)
				}
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("before the outage: %w", err)
	}
	before, err := g.stats(ctx)
	if err != nil {
		return err
	}
	// The outage: every connection to Graph and to the token endpoint is cut.
	for _, f := range []graphsim.Fault{
		{Kind: graphsim.FaultDrop},
		{Kind: graphsim.FaultDrop, Path: "/$batch"},
		{Kind: graphsim.FaultToken, Status: 503},
	} {
		if _, err := g.fault(ctx, f); err != nil {
			return fmt.Errorf("start the outage: %w", err)
		}
	}
	outageStart := time.Now()
	r.Counts["outage_seconds"] = outage.Seconds()
	// Halfway, a restart without network.
	time.Sleep(outage / 2)
	if err := s.agent.Stop(15 * time.Second); err != nil {
		r.failf("the agent did not stop cleanly during the outage: %v", err)
	}
	if err := s.startAgent(ctx); err != nil {
		return fmt.Errorf("restart during the outage: %w", err)
	}
	r.Counts["restarted_during_outage"] = true
	// Until the outage ends: the later meetings stay everywhere; once the first meetings
	// have ended they leave the codecs.
	checks, rolledOff := 0, false
	for time.Since(outageStart) < outage && ctx.Err() == nil {
		for _, rm := range rooms {
			titles, err := s.shown(ctx, rm.codec, rm.poly)
			if err != nil {
				r.failf("during the outage: %v", err)
				continue
			}
			r.check(slices.Contains(titles, "wan later "+rm.name), "during the outage %s%s lost the Join button of the later meeting (shows %q)", rm.codec, rm.poly, titles)
			if rm.codec != "" && time.Now().After(endsDuring.Add(5*time.Second)) {
				rolledOff = true
				r.check(!slices.Contains(titles, "wan ends soon "+rm.name), "%s still shows the meeting that ended at %s", rm.codec, endsDuring.Format(time.TimeOnly))
			}
		}
		checks++
		time.Sleep(2 * time.Second)
	}
	r.Counts["checks_during_outage"] = checks
	r.check(rolledOff, "the outage ended before the ended meeting could be checked (outage too short)")
	if !s.alive() {
		return fmt.Errorf("the agent exited during the outage; see %s", s.agent.Log)
	}
	during, err := g.stats(ctx)
	if err != nil {
		return err
	}
	if err := g.clearFaults(ctx); err != nil {
		return err
	}
	back := time.Now()
	_ = s.action(ctx, "sync", map[string]any{})
	if err := waitFor(ctx, 5*time.Minute, time.Second, func() error {
		if err := roomsOK(ctx, s); err != nil {
			return err
		}
		st, err := g.stats(ctx)
		if err != nil {
			return err
		}
		for _, rm := range rooms {
			if st.Mailboxes[rm.name].DeltaPolls <= during.Mailboxes[rm.name].DeltaPolls {
				return fmt.Errorf("%s has not polled its deltaLink since the outage", rm.name)
			}
		}
		return nil
	}); err != nil {
		r.failf("sync did not resume: %v", err)
	}
	r.Counts["resume_seconds"] = time.Since(back).Seconds()
	after, err := g.stats(ctx)
	if err != nil {
		return err
	}
	full := 0
	for _, rm := range rooms {
		full += after.Mailboxes[rm.name].FullSyncs - before.Mailboxes[rm.name].FullSyncs
	}
	r.Counts["full_syncs_after_outage"] = full
	r.Counts["requests_refused_during_outage"] = during.Requests - before.Requests
	r.check(full == 0, "%d full resyncs (calendarView restarts) after the outage; want delta polls only", full)
	return nil
}

// shown is what an endpoint shows: a codec's booking titles or a Poly endpoint's subjects
// (after making it poll now).
func (s *site) shown(ctx context.Context, codec, poly string) ([]string, error) {
	var titles []string
	if codec != "" {
		bs, err := s.codecBookings(ctx, codec)
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			titles = append(titles, b.Title)
		}
		return titles, nil
	}
	var st polysim.Status
	if err := callJSON(ctx, http.MethodPost, s.sim.File.PolyAdmin+"/endpoints/"+pathEscape(poly)+"/poll", nil, &st); err != nil {
		return nil, err
	}
	if st.LastError != "" {
		return nil, fmt.Errorf("%s: poll failed: %s", poly, st.LastError)
	}
	for _, m := range st.Meetings {
		if m.CanDial {
			titles = append(titles, m.Subject)
		}
	}
	return titles, nil
}
