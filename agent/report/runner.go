package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/store"
)

// Options configure the daily report's runner.
type Options struct {
	Store *store.Store
	Site  string
	// At is the time of day the report is made, as an offset from local midnight.
	At       time.Duration
	Location *time.Location // default time.Local
	Clock    clock.Clock
	Logger   *slog.Logger
	Requests Requests
	// FoldEvery bounds how often new events are folded into the tallies; default 5s (the
	// event log keeps ~1,000 entries, far more than a site records in 5 s).
	FoldEvery time.Duration
}

// retryAfter is how long a failed report waits before it is tried again.
const retryAfter = time.Minute

// Runner folds events into the day tallies as they are recorded and makes the report once a
// day at the configured time.
type Runner struct {
	opts Options
	log  *slog.Logger
	f    folder
}

// New prepares a runner; nothing happens until Run.
func New(opts Options) (*Runner, error) {
	if opts.Store == nil {
		return nil, errors.New("daily report: no store")
	}
	if opts.At < 0 || opts.At >= 24*time.Hour {
		return nil, fmt.Errorf("daily report: time of day %s is outside 00:00-23:59", opts.At)
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.FoldEvery <= 0 {
		opts.FoldEvery = 5 * time.Second
	}
	return &Runner{opts: opts, log: opts.Logger, f: folder{st: opts.Store, loc: opts.Location}}, nil
}

// Run works until ctx ends. A report missed while the agent was stopped is made at start
// (the previous day's, once); the day of the newest report is kept in the store, so a
// restart never makes it twice.
func (r *Runner) Run(ctx context.Context) error {
	events := r.opts.Store.Subscribe(store.TopicOutbox) // every recorded event queues a message
	defer events.Close()
	clk := r.opts.Clock
	if err := r.f.fold(ctx, clk.Now()); err != nil && ctx.Err() == nil {
		r.log.Warn("count the day's events", "err", err)
	}
	due := r.nextDue(ctx)
	timer := clk.NewTimer(max(due.Sub(clk.Now()), 0))
	defer timer.Stop()
	var foldC <-chan time.Time
	var foldTimer clock.Timer
	defer func() {
		if foldTimer != nil {
			foldTimer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-events.C:
			events.Take()
			if foldC == nil {
				foldTimer = clk.NewTimer(r.opts.FoldEvery)
				foldC = foldTimer.C()
			}
		case <-foldC:
			foldC, foldTimer = nil, nil
			if err := r.f.fold(ctx, clk.Now()); err != nil && ctx.Err() == nil {
				r.log.Warn("count the day's events", "err", err)
			}
		case <-timer.C():
			wait := retryAfter
			if err := r.MakeDue(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				r.log.Warn("daily report failed; trying again in a minute", "err", err)
			} else {
				wait = max(r.nextDue(ctx).Sub(clk.Now()), 0)
			}
			timer.Reset(wait)
		}
	}
}

// nextDue is when the next report is due: now when the previous day's report was missed
// (its time has passed today and it was not made while the agent was stopped), else the
// next occurrence of the time of day.
func (r *Runner) nextDue(ctx context.Context) time.Time {
	now := r.opts.Clock.Now()
	today := r.at(now, 0)
	last, _, err := r.opts.Store.Get(ctx, KeyLastDay)
	if err != nil {
		r.log.Warn("read the day of the last report", "err", err)
	}
	// The first report ever waits for its time: a catch-up would report on a day the agent
	// was not counting.
	switch {
	case now.Before(today):
		return today
	case last != "" && last != dayOf(now.In(r.opts.Location).AddDate(0, 0, -1), r.opts.Location):
		return now
	}
	return r.at(now, 1)
}

// at is the report time on the day `days` after now's local day (time.Date normalises the
// hours across a DST change: a 02:30 that does not exist is made at 03:30).
func (r *Runner) at(now time.Time, days int) time.Time {
	l := now.In(r.opts.Location)
	h, m := int(r.opts.At/time.Hour), int(r.opts.At%time.Hour/time.Minute)
	return time.Date(l.Year(), l.Month(), l.Day()+days, h, m, 0, 0, r.opts.Location)
}

// MakeDue makes the previous day's report unless it exists: counts the newest events first,
// then keeps the report and its day in one transaction.
func (r *Runner) MakeDue(ctx context.Context) error {
	now := r.opts.Clock.Now()
	if err := r.f.fold(ctx, now); err != nil {
		return err
	}
	to := startOfDay(now, r.opts.Location)
	l := to.AddDate(0, 0, -1)
	from := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, r.opts.Location)
	day := dayOf(from, r.opts.Location)
	if last, _, err := r.opts.Store.Get(ctx, KeyLastDay); err != nil {
		return err
	} else if last == day {
		return nil
	}
	rep, err := Compute(ctx, r.opts.Store, r.opts.Site, from, to, now, r.opts.Requests)
	if err != nil {
		return err
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("daily report: %w", err)
	}
	made := false
	err = r.opts.Store.Write(ctx, func(tx *store.Tx) error {
		if last, _, err := tx.Get(KeyLastDay); err != nil || last == day {
			return err
		}
		made = true
		if err := tx.Set(KeyLatest, string(b)); err != nil {
			return err
		}
		return tx.Set(KeyLastDay, day)
	})
	if err != nil {
		return fmt.Errorf("daily report: keep it: %w", err)
	}
	if made {
		r.opts.Store.Notify(Topic, day)
		r.log.Info("daily report made", "day", day, "rooms", rep.Rooms.Total, "failing", len(rep.Rooms.Failing),
			"pushes", rep.Cisco.Pushes, "not_joined", rep.Meetings.NotJoinedTotal)
	}
	return nil
}
