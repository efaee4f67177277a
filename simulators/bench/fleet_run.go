package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/simulators/harness"
	"github.com/otj-edge/otj-edge/simulators/mosquitto"
)

// viewSummary is what `otj-edge fleet --serve` answers on /fleet (agent/cli FleetSummary).
type viewSummary struct {
	Sites         int        `json:"sites"`
	Online        int        `json:"online"`
	Offline       int        `json:"offline"`
	Invalid       int        `json:"invalid"`
	Rooms         int        `json:"rooms"`
	RoomsReported int        `json:"rooms_reported"`
	Events        int64      `json:"events"`
	List          []viewSite `json:"site_list"`
}

type viewSite struct {
	Site            string     `json:"site"`
	State           string     `json:"state"`
	Reason          string     `json:"reason"`
	RoomsReported   *int       `json:"rooms_reported"`
	Rooms           int        `json:"rooms"`
	Events          int64      `json:"events"`
	StatusUpdatedAt *time.Time `json:"status_updated_at"`
	StatusSeenAt    *time.Time `json:"status_seen_at"`
}

func fleetRun(ctx context.Context, bin string, o fleetOptions) (*FleetRun, error) {
	dir, err := os.MkdirTemp("", "otj-bench-fleet-run-")
	if err != nil {
		return nil, err
	}
	keepDir := false
	defer func() {
		if !keepDir {
			os.RemoveAll(dir)
		}
	}()
	b, err := mosquitto.Start(ctx, mosquitto.Options{RequireMosquitto: true})
	if err != nil {
		return nil, fmt.Errorf("start mosquitto: %w", err)
	}
	defer b.Close()
	bpid, err := mosquittoPid(b)
	if err != nil {
		return nil, err
	}
	view, viewURL, err := startView(ctx, bin, b.URL(), dir)
	if err != nil {
		keepDir = true
		return nil, err
	}
	defer func() { _ = view.Stop(10 * time.Second) }()
	fail := func(err error) (*FleetRun, error) {
		keepDir = true
		return nil, fmt.Errorf("%w (the view's log: %s)", err, view.Log)
	}
	bc, vc := &procCost{pid: bpid}, &procCost{pid: view.Pid()}
	sleepCtx(ctx, time.Second)
	vBase, err := vc.sample()
	if err != nil {
		return fail(fmt.Errorf("read the view's /proc: %w", err))
	}
	sampleDone := make(chan struct{})
	defer close(sampleDone)
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-sampleDone:
				return
			case <-t.C:
				_, _ = bc.sample()
				_, _ = vc.sample()
			}
		}
	}()

	r := &FleetRun{Sites: o.sites, RoomsPerSite: o.rooms, PublishedByTopic: map[string]int64{},
		Rates: map[string]any{"room_refresh_seconds": o.rates.roomRefresh.Seconds(), "metrics_seconds": o.rates.metrics.Seconds(),
			"events_per_room_hour": o.rates.eventsPerHour, "health_change_mean_seconds": o.rates.healthChange.Seconds(),
			"status_min_seconds": o.rates.statusMin.Seconds()},
		Broker: FleetProc{Kind: b.Kind()}}
	changes := make(chan statusChange, o.sites*8+10000)
	checkerDone := make(chan struct{})
	checked := make(chan *latencyChecker, 1)
	go func() {
		c := &latencyChecker{url: viewURL, ms: map[string][]float64{}}
		c.run(ctx, changes, checkerDone)
		checked <- c
	}()

	counts := &fleetCounts{}
	ramp := min(max(time.Duration(o.sites)*20*time.Millisecond, 2*time.Second), time.Minute)
	rng := rand.New(rand.NewPCG(22, uint64(o.sites)))
	plans := fleetPlans(o, ramp, rng)
	sites := make([]*simSite, o.sites)
	for i := range sites {
		sites[i] = newSimSite(fmt.Sprintf("site-%04d", i+1), b.URL(), o.rooms, o.rates, rng.Uint64(), counts, changes)
		if plans[i].downAt > 0 {
			if plans[i].upAt > 0 {
				r.Outages++
			} else {
				r.StayedOffline++
			}
		}
	}
	logf("fleet: %d sites × %d rooms to %s for %s (ramp %s, %d outages, %d stay offline)", o.sites, o.rooms, b.Kind(), o.window, ramp, r.Outages, r.StayedOffline)
	t0 := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var errMu sync.Mutex
	for i, s := range sites {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.run(ctx, plans[i], t0, stop); err != nil {
				errMu.Lock()
				r.SiteErrors = append(r.SiteErrors, err.Error())
				errMu.Unlock()
			}
		}()
	}
	defer func() { // every site still connected goes away cleanly (no wills after the run)
		var dw sync.WaitGroup
		for _, s := range sites {
			if s.client != nil && s.client.IsConnectionOpen() {
				dw.Add(1)
				go func() { defer dw.Done(); s.client.Disconnect(0) }()
			}
		}
		dw.Wait()
	}()

	// The ramp ends when the view holds every site's status and rooms.
	want := o.sites * o.rooms
	loaded := false
	for time.Since(t0) < ramp+time.Minute && time.Since(t0) < o.window/2+ramp {
		var s viewSummary
		if err := harness.GetJSON(ctx, viewURL+"?site=-", &s); err == nil && s.Sites == o.sites && s.Rooms == want {
			loaded = true
			break
		}
		if !sleepCtx(ctx, 250*time.Millisecond) {
			break
		}
	}
	if !loaded {
		close(stop)
		wg.Wait()
		return fail(fmt.Errorf("the view did not show every site and room %s after the start", time.Since(t0).Round(time.Second)))
	}
	r.RampSeconds = round2(time.Since(t0).Seconds())
	vLoaded, _ := vc.sample()
	v0, _ := vc.sample()
	b0, err := bc.sample()
	if err != nil {
		return fail(fmt.Errorf("read mosquitto's /proc: %w", err))
	}
	m0, bytes0, w0 := counts.messages.Load(), counts.bytes.Load(), time.Now()

	sleepCtx(ctx, time.Until(t0.Add(o.window)))
	close(stop)
	wg.Wait()
	w1 := time.Now()
	v1, _ := vc.sample()
	b1, _ := bc.sample()
	m1, bytes1 := counts.messages.Load(), counts.bytes.Load()
	steady := w1.Sub(w0).Seconds()
	r.RunSeconds = round2(w1.Sub(t0).Seconds())
	r.SteadySeconds = round2(steady)
	r.MessagesPerSecond = round2(float64(m1-m0) / steady)
	r.BytesPerSecond = math.Round(float64(bytes1-bytes0) / steady)
	r.Published, r.PublishedBytes, r.PublishFailures = m1, bytes1, counts.failures.Load()
	for i, n := range topicNames {
		r.PublishedByTopic[n] = counts.byTopic[i].Load()
	}
	r.Broker.CPUPercent = round2(100 * (b1.CPU - b0.CPU).Seconds() / steady)
	r.View.CPUPercent = round2(100 * (v1.CPU - v0.CPU).Seconds() / steady)

	// Accuracy: once the last messages are through, the view must match what was published.
	stoppedAt := time.Now()
	var acc FleetAccuracy
	for {
		var s viewSummary
		err := harness.GetJSON(ctx, viewURL, &s)
		if err == nil {
			acc = compareFleet(sites, s)
			if acc.Mismatches == 0 {
				acc.ConvergedSeconds = ptr(round2(time.Since(stoppedAt).Seconds()))
				break
			}
		}
		if time.Since(stoppedAt) > time.Minute || !sleepCtx(ctx, 250*time.Millisecond) {
			if err != nil {
				return fail(fmt.Errorf("read the fleet view: %w", err))
			}
			break
		}
	}
	r.Accuracy = acc
	close(checkerDone)
	c := <-checked
	r.StatusLatency = c.result()

	vEnd, _ := vc.sample()
	bEnd, _ := bc.sample()
	r.View.RSSMB, r.View.PeakRSSMB = mb(vEnd.RSSBytes), mb(max(vc.peak(), vEnd.PeakRSSBytes))
	r.Broker.RSSMB, r.Broker.PeakRSSMB = mb(bEnd.RSSBytes), mb(max(bc.peak(), bEnd.PeakRSSBytes))
	r.View.BaselineRSSMB, r.View.LoadedRSSMB = ptr(mb(vBase.RSSBytes)), ptr(mb(vLoaded.RSSBytes))
	r.View.GrowthPerSiteKB = ptr(round2(float64(vLoaded.RSSBytes-vBase.RSSBytes) / 1024 / float64(max(o.sites, 1))))
	r.View.RunGrowthMB = ptr(round2(mb(vEnd.RSSBytes) - mb(vLoaded.RSSBytes)))
	if exited, err := view.Exited(); exited {
		return fail(fmt.Errorf("otj-edge fleet --serve exited during the run (%v)", err))
	}
	logf("fleet: %.1f msg/s; broker %.1f%% CPU, %.1f MB; view %.1f%% CPU, peak %.1f MB (%.1f KB/site); %d mismatches; status p95 %s ms",
		r.MessagesPerSecond, r.Broker.CPUPercent, r.Broker.RSSMB, r.View.CPUPercent, r.View.PeakRSSMB, *r.View.GrowthPerSiteKB,
		r.Accuracy.Mismatches, fmtMs(r.StatusLatency.P95Ms))
	if len(r.SiteErrors) > 0 {
		return r, fmt.Errorf("%d simulated sites failed, first: %s", len(r.SiteErrors), r.SiteErrors[0])
	}
	return r, nil
}

func fmtMs(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

// compareFleet checks the view against the generator's truth, site by site.
func compareFleet(sites []*simSite, s viewSummary) FleetAccuracy {
	var a FleetAccuracy
	a.Viewed = FleetCounts{Sites: s.Sites, Online: s.Online, Offline: s.Offline, Rooms: s.Rooms, Events: s.Events}
	byName := map[string]viewSite{}
	for _, v := range s.List {
		byName[v.Site] = v
	}
	bad := func(format string, args ...any) {
		a.Mismatches++
		if len(a.Examples) < 10 {
			a.Examples = append(a.Examples, fmt.Sprintf(format, args...))
		}
	}
	for _, site := range sites {
		t := site.truth
		a.Expected.Sites++
		a.Expected.Rooms += t.rooms
		a.Expected.Events += t.events
		want := "offline"
		if t.online {
			a.Expected.Online++
			want = "online"
		} else {
			a.Expected.Offline++
		}
		v, ok := byName[site.name]
		delete(byName, site.name)
		switch {
		case !ok:
			bad("%s: not in the view", site.name)
		case v.State != want || (!t.online && v.Reason != t.reason):
			bad("%s: %s (%s) in the view, %s (%s) published", site.name, v.State, v.Reason, want, t.reason)
		case v.Rooms != t.rooms:
			bad("%s: %d rooms in the view, %d published", site.name, v.Rooms, t.rooms)
		case t.online && (v.RoomsReported == nil || *v.RoomsReported != len(site.rooms)):
			bad("%s: the status's room count is wrong in the view", site.name)
		case v.Events != t.events:
			bad("%s: %d events in the view, %d published", site.name, v.Events, t.events)
		}
	}
	for n := range byName {
		bad("%s: in the view, never published", n)
	}
	return a
}

// latencyChecker finds, for every status change, when the view received it (the view stamps
// each status it applies), so the figure is the view's own and not the polling interval.
type latencyChecker struct {
	url        string
	pending    []statusChange
	ms         map[string][]float64
	superseded int
	missed     int
}

const latencyLimit = 30 * time.Second

func (c *latencyChecker) run(ctx context.Context, in <-chan statusChange, done <-chan struct{}) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	var finishing time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			if finishing.IsZero() {
				finishing = time.Now()
			}
			done = nil
		case <-t.C:
		}
	drain:
		for {
			select {
			case ch := <-in:
				c.pending = append(c.pending, ch)
			default:
				break drain
			}
		}
		c.check(ctx)
		if !finishing.IsZero() && (len(c.pending) == 0 || time.Since(finishing) > latencyLimit) {
			c.missed += len(c.pending)
			return
		}
	}
}

// check asks the view about the pending changes: one site at a time when few are waiting,
// the whole list in one request during a burst (the ramp).
func (c *latencyChecker) check(ctx context.Context) {
	if len(c.pending) == 0 {
		return
	}
	seen := map[string]viewSite{}
	if len(c.pending) > 20 {
		var s viewSummary
		if harness.GetJSON(ctx, c.url, &s) != nil {
			return
		}
		for _, v := range s.List {
			seen[v.Site] = v
		}
	} else {
		for _, p := range c.pending {
			if _, ok := seen[p.site]; ok {
				continue
			}
			var s viewSummary
			if harness.GetJSON(ctx, c.url+"?site="+url.QueryEscape(p.site), &s) == nil && len(s.List) == 1 {
				seen[p.site] = s.List[0]
			}
		}
	}
	keep := c.pending[:0]
	for _, p := range c.pending {
		v, ok := seen[p.site]
		switch {
		case ok && v.StatusUpdatedAt != nil && v.StatusSeenAt != nil && v.StatusUpdatedAt.Equal(p.marker):
			c.ms[p.kind] = append(c.ms[p.kind], float64(v.StatusSeenAt.Sub(p.at).Microseconds())/1000)
		case ok && v.StatusUpdatedAt != nil && v.StatusUpdatedAt.After(p.marker):
			c.superseded++
		case time.Since(p.at) > latencyLimit:
			c.missed++
		default:
			keep = append(keep, p)
		}
	}
	c.pending = keep
}

func (c *latencyChecker) result() FleetLatency {
	var all []float64
	by := map[string]FleetLatency{}
	for k, v := range c.ms {
		all = append(all, v...)
		by[k] = latencyOf(append([]float64(nil), v...))
	}
	l := latencyOf(all)
	l.ByKind, l.Superseded, l.Missed = by, c.superseded, c.missed
	return l
}

// run is one site's life: connect at its time in the ramp, then publish at the agent's rates
// until stop, going away and coming back as planned. It leaves the link up at the end.
func (s *simSite) run(ctx context.Context, p sitePlan, t0 time.Time, stop <-chan struct{}) error {
	if !sleepUntil(ctx, stop, t0.Add(p.connectAt)) {
		return nil
	}
	if err := s.connect(ctx); err != nil {
		return err
	}
	n := len(s.rooms)
	exp := func(mean time.Duration) time.Duration { return time.Duration(s.rng.ExpFloat64() * float64(mean)) }
	roomEvery := s.rates.roomRefresh / time.Duration(max(n, 1))
	eventMean := time.Duration(float64(time.Hour) / (s.rates.eventsPerHour * float64(max(n, 1))))
	var nextRoom, nextEvent, nextMetrics, nextHealth time.Time
	schedule := func(now time.Time) {
		nextRoom = now.Add(time.Duration(s.rng.Int64N(int64(roomEvery) + 1)))
		nextEvent = now.Add(exp(eventMean))
		nextMetrics = now.Add(time.Duration(s.rng.Int64N(int64(s.rates.metrics) + 1)))
		nextHealth = now.Add(max(exp(s.rates.healthChange), s.rates.statusMin))
	}
	schedule(time.Now())
	var downAt, upAt time.Time
	if p.downAt > 0 {
		downAt = t0.Add(p.downAt)
		if p.upAt > 0 {
			upAt = t0.Add(p.upAt)
		}
	}
	roomIdx, online := s.rng.IntN(max(n, 1)), true
	for {
		var due time.Time
		switch {
		case online:
			due = minTime(nextRoom, nextEvent, nextMetrics, nextHealth)
			if !downAt.IsZero() {
				due = minTime(due, downAt)
			}
		case !upAt.IsZero():
			due = upAt
		default:
			sleepUntil(ctx, stop, time.Now().Add(24*time.Hour))
			return nil
		}
		if !sleepUntil(ctx, stop, due) {
			return nil
		}
		now := time.Now()
		var err error
		switch {
		case !online:
			err = s.connect(ctx)
			online, upAt = true, time.Time{}
			schedule(now)
		case !downAt.IsZero() && !now.Before(downAt):
			if p.abrupt {
				s.changes <- s.cut()
			} else {
				err = s.shutdown(ctx)
			}
			online, downAt = false, time.Time{}
		case !now.Before(nextHealth):
			err = s.healthFlip(ctx)
			nextHealth = now.Add(max(exp(s.rates.healthChange), s.rates.statusMin))
		case !now.Before(nextRoom):
			err = s.publishRoom(ctx, roomIdx, now)
			roomIdx = (roomIdx + 1) % n
			nextRoom = nextRoom.Add(roomEvery)
		case !now.Before(nextEvent):
			err = s.randomEvent(ctx)
			nextEvent = now.Add(exp(eventMean))
		default:
			err = s.publishMetrics(ctx)
			nextMetrics = nextMetrics.Add(s.rates.metrics)
		}
		if err != nil {
			return err
		}
	}
}

func minTime(first time.Time, rest ...time.Time) time.Time {
	for _, t := range rest {
		if t.Before(first) {
			first = t
		}
	}
	return first
}

// sleepUntil waits until t; false when stopped first.
func sleepUntil(ctx context.Context, stop <-chan struct{}, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		select {
		case <-stop:
			return false
		default:
			return ctx.Err() == nil
		}
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-stop:
		return false
	case <-ctx.Done():
		return false
	}
}
