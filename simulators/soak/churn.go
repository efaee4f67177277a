package main

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// churner keeps a site busy from a goroutine: calendar edits in graphsim, codec reboots and
// dropped sockets, pushes and reloads through the agent's API. Errors are expected (the agent
// may be down) and only counted.
type churner struct {
	s      *site
	ed     *editor
	rng    *rand.Rand
	every  time.Duration
	mix    churnMix
	cancel context.CancelFunc
	wg     sync.WaitGroup

	edits, reboots, drops, pushes, reloads, errors atomic.Int64
}

// churnMix weights each kind of step.
type churnMix struct{ edit, reboot, drop, push, reload int }

func newChurner(s *site, seed uint64, every time.Duration, mix churnMix) *churner {
	return &churner{s: s, ed: newEditor(s.graph(), s.sim.File.Graph.Rooms, seed), rng: rand.New(rand.NewPCG(seed, 11)), every: every, mix: mix}
}

// start runs steps until stop.
func (c *churner) start(ctx context.Context) {
	ctx, c.cancel = context.WithCancel(ctx)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(c.every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.step(ctx)
			}
		}
	}()
}

// stop ends the goroutine and waits for it.
func (c *churner) stop() {
	if c.cancel != nil {
		c.cancel()
		c.wg.Wait()
		c.cancel = nil
	}
}

func (c *churner) step(ctx context.Context) {
	m := c.mix
	n := c.rng.IntN(m.edit + m.reboot + m.drop + m.push + m.reload)
	var err error
	codecs := c.s.sim.File.Cisco
	switch {
	case n < m.edit:
		err = c.ed.step(ctx)
		c.edits.Add(1)
	case n < m.edit+m.reboot:
		cd := codecs[c.rng.IntN(len(codecs))]
		err = callJSON(ctx, http.MethodPost, c.s.sim.File.CiscoAdmin+"/codecs/"+pathEscape(cd.Name)+"/reboot", map[string]any{"down_ms": 300 + c.rng.IntN(1500)}, nil)
		c.reboots.Add(1)
	case n < m.edit+m.reboot+m.drop:
		cd := codecs[c.rng.IntN(len(codecs))]
		err = callJSON(ctx, http.MethodPost, c.s.sim.File.CiscoAdmin+"/codecs/"+pathEscape(cd.Name)+"/drop", nil, nil)
		c.drops.Add(1)
	case n < m.edit+m.reboot+m.drop+m.push:
		err = c.s.action(ctx, "push", map[string]any{})
		c.pushes.Add(1)
	default:
		err = c.s.action(ctx, "reload", map[string]any{})
		c.reloads.Add(1)
	}
	if err != nil && ctx.Err() == nil {
		c.errors.Add(1)
	}
}

func (c *churner) counts(into map[string]any) {
	into["graph_edits"] = c.edits.Load()
	into["codec_reboots"] = c.reboots.Load()
	into["codec_drops"] = c.drops.Load()
	into["push_actions"] = c.pushes.Load()
	into["reload_actions"] = c.reloads.Load()
	into["churn_errors"] = c.errors.Load()
}
