package agent

import (
	"context"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/report"
)

// reportSpec is the daily report's part (agent/report): it counts the day's events as they
// are recorded and makes the report at report.time. Off with report.time: off.
func (a *Agent) reportSpec(cfg *config.Config) (partSpec, bool) {
	if !cfg.Report.Enabled() {
		return partSpec{}, false
	}
	return partSpec{name: "daily report", key: keyOf(cfg.Site, cfg.Report), build: func() (func(context.Context) error, error) {
		r, err := report.New(report.Options{Store: a.store, Site: cfg.Site, At: cfg.Report.At(), Clock: a.clock,
			Logger: a.log.With("part", "daily report"), Requests: a.reportRequests})
		if err != nil {
			return nil, err
		}
		return r.Run, nil
	}}, true
}

// reportRequests is each configured integration's requests on the local day of day against
// its budget, from the rows of the source table that count them.
func (a *Agent) reportRequests(ctx context.Context, day time.Time) ([]report.Integration, error) {
	cfg := a.cfg.Load()
	var out []report.Integration
	for i := range cfg.Integrations {
		in := &cfg.Integrations[i]
		t, ok := sourceTypeOf(in)
		if !ok || t.requests == nil {
			continue
		}
		used, budget, err := t.requests(ctx, a.store, in, day)
		if err != nil {
			return nil, err
		}
		out = append(out, report.Integration{Name: in.Name, Type: in.Type, Requests: used, Budget: budget})
	}
	return out, nil
}
