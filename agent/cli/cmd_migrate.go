package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/migrate"
	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/store"
)

func init() {
	register(&command{
		name:    "migrate",
		args:    "status [--config FILE] [--json]",
		summary: "phased migration between integrations: does each shadowed room read the same through its shadow?",
		help: `'otj-edge migrate status' compares, for every room an integration reads in shadow
(integrations[].shadow), the meetings the room shows through its live integration with the
meetings the same profile resolves from the shadow: identical (move the room: one integration:
line on its endpoints, then 'otj-edge reload'), differs (the first differences, in words),
not_readable (the shadow may not read the room, and the fix) or pending (not synced yet).
Reads the running agent's API, or the stores directly (read-only) when the agent is not
running; stderr says which.`,
		flags: func(fs *flag.FlagSet) any { f := addOpFlags(fs); return &f },
		run: func(ctx context.Context, stdio IO, opts any, args []string) error {
			f := opts.(*opFlags)
			if len(args) != 1 || args[0] != "status" {
				return usagef("usage: otj-edge migrate status [--config FILE] [--json]")
			}
			cfg, err := loadConfig(*f.config, stdio)
			if err != nil {
				return err
			}
			rep, info, err := migrationReport(ctx, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdio.Stderr, "otj-edge migrate status: %s\n", info)
			if *f.json {
				return writeJSON(stdio.Stdout, struct {
					Source sourceInfo `json:"source"`
					migrate.Report
				}{info, rep})
			}
			return printMigration(stdio.Stdout, rep)
		},
	})
}

// migrationReport asks the running agent, or reads the live and shadow stores.
func migrationReport(ctx context.Context, cfg *config.Config) (migrate.Report, sourceInfo, error) {
	s, err := openSite(ctx, cfg)
	if err != nil {
		return migrate.Report{}, sourceInfo{}, err
	}
	defer s.close()
	if s.client != nil {
		rep, err := s.client.Migration(ctx)
		return rep, s.info, err
	}
	shadows := map[string]*store.Store{}
	defer func() {
		for _, st := range shadows {
			st.Close()
		}
	}()
	for _, in := range cfg.Shadows() {
		path := migrate.StorePath(cfg.StateDir, in.Name)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			continue // the shadow never ran: its rooms read pending
		}
		st, err := store.Open(ctx, path, store.Options{ReadOnly: true})
		if err != nil {
			return migrate.Report{}, s.info, fmt.Errorf("read the shadow store of integration %q: %w", in.Name, err)
		}
		shadows[in.Name] = st
	}
	rd, ok := s.read.(*web.Reader)
	if !ok {
		return migrate.Report{}, s.info, errors.New("migrate status: no store to read")
	}
	rep, err := migrate.Collect(ctx, cfg, rd.Store, func(name string) *store.Store { return shadows[name] }, time.Now(), time.Local)
	return rep, s.info, err
}

// printMigration writes the report as a table, then each room's differences or fix.
func printMigration(w io.Writer, rep migrate.Report) error {
	if len(rep.Rooms) == 0 {
		_, err := fmt.Fprintln(w, "No integration reads rooms in shadow. To check an integration before moving rooms to it, add\n"+
			"  shadow: {rooms: all}\nto it and run otj-edge reload (README \"Moving rooms between integrations\").")
		return err
	}
	tw := table(w)
	fmt.Fprintln(tw, "ROOM\tLIVE → SHADOW\tSTATE\tMEETINGS\tDETAIL")
	for _, r := range rep.Rooms {
		fmt.Fprintf(tw, "%s\t%s → %s\t%s\t%d / %d\t%s\n", r.Room, r.Live, r.Shadow, r.State, r.LiveMeetings, r.ShadowMeetings, r.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rep.Rooms {
		if len(r.Differences) == 0 && r.Fix == "" {
			continue
		}
		fmt.Fprintf(w, "\n%s (%s):\n", r.Room, r.State)
		for _, d := range r.Differences {
			fmt.Fprintf(w, "  - %s\n", d)
		}
		if r.More > 0 {
			fmt.Fprintf(w, "  … and %d more\n", r.More)
		}
		if r.Fix != "" {
			fmt.Fprintf(w, "  %s\n", r.Fix)
		}
	}
	var counts []string
	for _, k := range []string{migrate.Identical, migrate.Differs, migrate.NotReadable, migrate.Pending} {
		if n := rep.Counts[k]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, k))
		}
	}
	_, err := fmt.Fprintf(w, "\n%d shadowed rooms: %s\n", len(rep.Rooms), strings.Join(counts, ", "))
	return err
}
