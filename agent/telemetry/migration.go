package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/otj-edge/otj-edge/agent/migrate"
)

// TopicMigration is otj/v1/<site>/migration, retained: the shadow check of a phased migration
// (Migration), while an integration reads rooms in shadow. With no shadow the topic is
// cleared (an empty retained message) on every connection, so a finished migration leaves
// nothing behind on the broker. The existing topics keep their meaning.
const TopicMigration = "migration"

// Migration is the retained migration message: the agent's report (package migrate: per
// shadowed room identical, differs with the first differences, not_readable with the fix, or
// pending) with the site and when it was published.
type Migration struct {
	Site      string    `json:"site"`
	UpdatedAt time.Time `json:"updated_at"`
	migrate.Report
}

// migrationEvery is how often the report is made again to see whether it changed.
const migrationEvery = time.Minute

// migrationState is the state loop's memory of the migration topic.
type migrationState struct {
	last    []byte    // the report published on this link, without its times
	at      time.Time // when it was last made
	cleared bool      // the topic was cleared on this link
}

// publishMigration publishes the report when it changed (or the link is new), at most every
// migrationEvery (a new link starts with a zero migrationState: due at once). It returns how
// long until it is due again.
func (s *stateLoop) publishMigration(ctx context.Context, now time.Time) (time.Duration, error) {
	t := s.t
	m := &s.migration
	if t.opts.Migration == nil {
		return 0, nil
	}
	if d := m.at.Add(migrationEvery).Sub(now); !m.at.IsZero() && d > 0 {
		return d, nil
	}
	m.at = now
	rep, err := t.opts.Migration(ctx)
	if err != nil {
		return migrationEvery, fmt.Errorf("make the migration report: %w", err)
	}
	if len(rep.Rooms) == 0 {
		if m.cleared {
			return migrationEvery, nil
		}
		if err := t.publishNow(ctx, TopicMigration, true, nil); err != nil {
			return migrationEvery, fmt.Errorf("clear the migration topic: %w", err)
		}
		m.cleared, m.last = true, nil
		return migrationEvery, nil
	}
	content, err := json.Marshal(Migration{Site: t.opts.Site, Report: untimed(rep)})
	if err != nil {
		return migrationEvery, err
	}
	if bytes.Equal(content, m.last) {
		return migrationEvery, nil
	}
	payload, err := MigrationPayload(t.opts.Site, rep, now)
	if err != nil {
		return migrationEvery, err
	}
	if err := t.publishNow(ctx, TopicMigration, true, payload); err != nil {
		return migrationEvery, fmt.Errorf("publish the migration report: %w", err)
	}
	m.last, m.cleared = content, false
	return migrationEvery, nil
}

// untimed drops what changes at every check without anything changing.
func untimed(rep migrate.Report) migrate.Report {
	rep.CheckedAt = time.Time{}
	return rep
}

// MigrationPayload is the retained migration message for rep, published at now.
func MigrationPayload(site string, rep migrate.Report, now time.Time) ([]byte, error) {
	return json.Marshal(Migration{Site: site, UpdatedAt: now.UTC(), Report: rep})
}
