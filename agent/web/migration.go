package web

import (
	"context"
	"net/http"

	"github.com/otj-edge/otj-edge/agent/migrate"
)

// The shadow check of a phased migration (README "Moving rooms between integrations"): GET
// /migration and GET /api/migration show, per shadowed room, whether the shadow integration
// resolves the meetings the room shows (package migrate makes the report).

// MigrationAgent is what an Agent that runs shadow integrations adds: the report, made now.
// The page and the API say there is nothing to compare when the Agent is not one.
type MigrationAgent interface {
	Migration(ctx context.Context) (migrate.Report, error)
}

// migration is the report, or an empty one when nothing is shadowed.
func (s *Server) migration(ctx context.Context) (migrate.Report, error) {
	empty := migrate.Report{CheckedAt: s.clock.Now().UTC(), Counts: map[string]int{}, Rooms: []migrate.Room{}}
	ma, ok := s.opts.Agent.(MigrationAgent)
	if cfg := s.opts.Agent.Config(); !ok || cfg == nil || len(cfg.Shadows()) == 0 {
		return empty, nil
	}
	return ma.Migration(ctx)
}

func (s *Server) apiMigration(r *http.Request) (any, error) { return s.migration(r.Context()) }

// migrationBody is the page's data: the report and the states in the order the page counts
// them.
type migrationBody struct {
	Report migrate.Report
	States []countRow
}

func (s *Server) migrationPage(r *http.Request) (*page, error) {
	rep, err := s.migration(r.Context())
	if err != nil {
		return nil, err
	}
	var states []countRow
	for _, k := range []string{migrate.Identical, migrate.Differs, migrate.NotReadable, migrate.Pending} {
		if rep.Counts[k] > 0 {
			states = append(states, countRow{k, rep.Counts[k]})
		}
	}
	return &page{name: "migration", Title: "Migration", Nav: "migration", Refresh: refreshLists,
		Body: migrationBody{Report: rep, States: states}}, nil
}

// Migration is GET /api/migration.
func (c *Client) Migration(ctx context.Context) (migrate.Report, error) {
	var v migrate.Report
	return v, c.do(ctx, http.MethodGet, "/api/migration", nil, nil, &v)
}
