package graph

import (
	"slices"
	"sort"
	"time"
)

// What the change probe sends when (probePlan), how a room's items are compared
// (fingerprint), and what the probe costs a day (probeCost, for the budget in schedule.go).

// probeJob is one chunk of at most 20 rooms probed over [ws, we) (a request per 61 days).
type probeJob struct {
	hot     bool
	rooms   []string
	ws, we  time.Time
	roomEnd map[string]time.Time // each room's own window end: items past it are not its business
}

// probePlan takes the probe work due now: every hot room (chunks of 20) once per hot
// interval, and the 20 cold rooms probed longest ago once per cold interval × 20 / cold
// rooms, so each cold room is probed once per cold interval and the requests spread evenly.
// It returns when to look again (under s.mu).
func (s *Syncer) probePlan(now time.Time) ([]probeJob, time.Time) {
	pr := s.pr
	if now.Before(pr.pauseUntil) {
		return nil, pr.pauseUntil
	}
	if s.gate.fail != nil { // no token: the rooms' steps deal with it; look again soon
		return nil, now.Add(s.probeHotInterval())
	}
	var hot, cold []*room
	for _, r := range s.list {
		if !s.probeEligible(r, now) || pr.rooms[r.spec.Mailbox].pending {
			continue
		}
		if s.hot(r, now) {
			hot = append(hot, r)
		} else {
			cold = append(cold, r)
		}
	}
	var jobs []probeJob
	if !pr.nextHot.After(now) {
		for c := range slices.Chunk(hot, maxSchedules) {
			jobs = append(jobs, s.probeJob(c, true, now, now.Add(-pr.tune.Before), now.Add(pr.tune.Ahead)))
		}
		pr.nextHot = now.Add(s.jitter(s.probeHotInterval()))
	}
	if !pr.nextCold.After(now) {
		interval := s.probeColdInterval()
		if len(cold) > 0 {
			// The least recently probed first (never probed: first of all).
			sort.SliceStable(cold, func(i, j int) bool {
				return pr.rooms[cold[i].spec.Mailbox].attempt.Before(pr.rooms[cold[j].spec.Mailbox].attempt)
			})
			take := cold[:min(len(cold), maxSchedules)]
			we := now
			for _, r := range take {
				_, e := window(r, now)
				we = laterOf(we, e)
			}
			jobs = append(jobs, s.probeJob(take, false, now, now.Add(-pr.tune.Before), we))
			interval = interval * time.Duration(len(take)) / time.Duration(len(cold))
		}
		pr.nextCold = now.Add(s.jitter(interval))
	}
	return jobs, earlierOf(pr.nextHot, pr.nextCold)
}

// probeJob makes a job of rooms over [ws, we), marking them attempted (under s.mu).
func (s *Syncer) probeJob(rooms []*room, hot bool, now, ws, we time.Time) probeJob {
	j := probeJob{hot: hot, ws: ws, we: we, roomEnd: make(map[string]time.Time, len(rooms))}
	for _, r := range rooms {
		m := r.spec.Mailbox
		j.rooms = append(j.rooms, m)
		_, e := window(r, now)
		j.roomEnd[m] = e
		s.pr.rooms[m].attempt, s.pr.rooms[m].pending = now, true
	}
	return j
}

// segments splits [ws, we) into periods getSchedule takes (less than 62 days each).
func segments(ws, we time.Time) [][2]time.Time {
	var out [][2]time.Time
	for a := ws; a.Before(we); a = a.Add(maxScheduleSpan) {
		out = append(out, [2]time.Time{a, earlierOf(we, a.Add(maxScheduleSpan))})
	}
	if len(out) == 0 {
		out = append(out, [2]time.Time{ws, ws.Add(time.Minute)})
	}
	return out
}

// probeCost is what the probe sends in [from, to), for the budget's projection (under s.mu):
//
//	hot  = (Σ hot seconds / 20 + 0.95 × seconds any room is hot) / hot interval
//	cold = (Σ cold seconds × segments / 20 + 0.95 × min(span, Σ cold seconds)) / cold interval
//	     + probeChanges a day per room (the polls the changes it finds trigger)
//
// A chunk of n rooms is one request per segment, and ceil(n/20) ≤ n/20 + 0.95: the second
// term bounds the rounding while any room is in the set. It errs high, never low.
func (s *Syncer) probeCost(from, to time.Time, runningHot bool) float64 {
	if s.pr == nil {
		return 0
	}
	total := to.Sub(from).Seconds()
	var hotSum, coldSum, coldSeg float64
	var periods [][2]time.Time // when rooms are hot: their union is when the hot set is not empty
	rooms := 0
	for _, r := range s.list {
		if !s.probeEligible(r, from) {
			continue
		}
		rooms++
		for _, sp := range r.spans {
			a, b := hotPeriod(sp, s.tune.HotLead, runningHot)
			if a, b = laterOf(a, from), earlierOf(b, to); a.Before(b) {
				periods = append(periods, [2]time.Time{a, b})
			}
		}
		hot := hotSeconds(r.spans, from, to, s.tune.HotLead, runningHot)
		hotSum += hot
		coldSum += total - hot
		ws, we := window(r, from)
		segs := float64(len(segments(from.Add(-s.pr.tune.Before), laterOf(we, ws))))
		coldSeg += (total - hot) * segs
	}
	cost := (hotSum/maxSchedules + 0.95*union(periods)) / s.pr.tune.HotInterval.Seconds()
	cost += (coldSeg/maxSchedules + 0.95*min(total, coldSum)) / s.pr.tune.ColdInterval.Seconds()
	cost += float64(rooms) * probeChanges * total / 86400
	return cost
}

func earlierOf(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// union is how many seconds the periods cover together.
func union(periods [][2]time.Time) float64 {
	slices.SortFunc(periods, func(a, b [2]time.Time) int { return a[0].Compare(b[0]) })
	var total time.Duration
	var end time.Time
	for _, p := range periods {
		if p[0].After(end) {
			total += p[1].Sub(p[0])
			end = p[1]
		} else if p[1].After(end) {
			total += p[1].Sub(end)
			end = p[1]
		}
	}
	return total.Seconds()
}
