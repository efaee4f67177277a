package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded files NNNN_name.sql in order. A malformed name is a build
// mistake, so it panics (caught by every test).
func migrations() []migration {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		panic(err)
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			panic("store: migration file name must be NNNN_name.sql: " + e.Name())
		}
		b, err := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			panic(err)
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			panic(fmt.Sprintf("store: migrations must be numbered 1, 2, 3…; %s is out of sequence", m.name))
		}
	}
	return out
}

func latestVersion() int { return len(migrations()) }

// SchemaVersion is the schema version this build writes.
func SchemaVersion() int { return latestVersion() }

// migrate brings the file to the latest schema in one transaction, after backing up a file
// that already holds data.
func (s *Store) migrate(ctx context.Context, appVersion string) error {
	var version int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	all := migrations()
	if version >= len(all) {
		return nil
	}
	if version > 0 {
		backup := fmt.Sprintf("%s.bak-v%d", s.path, version)
		if err := s.backup(ctx, backup); err != nil {
			return fmt.Errorf("migrate: back up before upgrading schema %d → %d: %w", version, len(all), err)
		}
		s.log.Info("store: backed up before migrating", "backup", backup, "from", version, "to", len(all))
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	now := ms(s.now())
	for _, m := range all[version:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_history(version, applied_at, app_version) VALUES (?, ?, ?)",
			m.version, now, appVersion); err != nil {
			return fmt.Errorf("migrate: record %s: %w", m.name, err)
		}
	}
	// PRAGMA values cannot be bound; both are integers we format ourselves.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(all))); err != nil {
		return fmt.Errorf("migrate: set version: %w", err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", ApplicationID)); err != nil {
		return fmt.Errorf("migrate: set application id: %w", err)
	}
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return fmt.Errorf("migrate: foreign key check: %w", err)
	}
	bad := rows.Next()
	rows.Close()
	if bad {
		return fmt.Errorf("migrate: foreign key check failed after migrating to %d", len(all))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	if version > 0 {
		s.log.Info("store: migrated", "from", version, "to", len(all))
	}
	return nil
}

// backup writes a consistent copy of the database to dst (VACUUM INTO), replacing an older
// backup of the same name.
func (s *Store) backup(ctx context.Context, dst string) error {
	if err := createPrivate(dst); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, "VACUUM INTO ?", dst)
	return err
}

// Backup writes a consistent copy of the open database to dst.
func (s *Store) Backup(ctx context.Context, dst string) error {
	if s.w == nil {
		return fmt.Errorf("backup: store is open read-only")
	}
	if err := s.backup(ctx, dst); err != nil {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	return nil
}
