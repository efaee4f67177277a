package web

import (
	"context"
	"net/http"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/report"
)

// The daily report (agent/report): GET /report shows it, GET /api/report answers it as MQTT
// publishes it. It is kept in the store, so the store reader serves it too.

// noReport says why there is no report yet and when the first one comes.
func noReport(cfg *config.Config) error {
	if cfg != nil && !cfg.Report.Enabled() {
		return errNotFound("the daily report is off (report.time: off in " + cfg.File + ")")
	}
	at := config.DefaultReportTime
	if cfg != nil && cfg.Report.Time != "" {
		at = cfg.Report.Time
	}
	return errNotFound("no daily report yet: the first one is made at " + at + " local time (report.time) about the day before")
}

// Report reads the newest daily report from the store.
func (rd *Reader) Report(ctx context.Context) (report.Report, error) {
	r, ok, err := report.Latest(ctx, rd.Store)
	if err != nil {
		return r, err
	}
	if !ok {
		return r, noReport(rd.Config)
	}
	return r, nil
}

// Report is GET /api/report.
func (c *Client) Report(ctx context.Context) (report.Report, error) {
	var v report.Report
	return v, c.do(ctx, http.MethodGet, "/api/report", nil, nil, &v)
}

func (s *Server) apiReport(r *http.Request) (any, error) {
	return s.reader().Report(r.Context())
}

func (s *Server) reportPage(r *http.Request) (*page, error) {
	rep, err := s.reader().Report(r.Context())
	if err != nil {
		return nil, err
	}
	return &page{name: "report", Title: "Daily report", Nav: "report", Body: rep}, nil
}
