package storage

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// migrationFiles holds the schema of each backend as numbered files,
// migrations/<backend>/NNNN_<what>.sql, applied in version order. A file is
// never edited once released; a change is a new file.
//
//go:embed migrations
var migrationFiles embed.FS

// migration is one schema change.
type migration struct {
	version int
	name    string // file name, for errors
	sql     string
}

// loadMigrations returns the migrations in dir of fsys, sorted by version.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil || version <= 0 || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s: name is not NNNN_<what>.sql", e.Name())
		}
		text, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: version, name: e.Name(), sql: string(text)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", ms[i-1].name, ms[i].name, ms[i].version)
		}
	}
	return ms, nil
}

// migrate applies the pending migrations of d's backend, each in its own
// transaction. Processes starting together on one database take turns: every
// transaction first takes the dialect's migration lock, then checks again
// whether its version is still pending.
func (d *DB) migrate(ctx context.Context) error { return d.migrateTo(ctx, 0) }

// migrateTo applies the pending migrations up to version upTo (0: all). Only
// tests stop early, to make a database as an earlier release left it.
func (d *DB) migrateTo(ctx context.Context, upTo int) error {
	ms, err := loadMigrations(migrationFiles, path.Join("migrations", d.dialect.String()))
	if err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	err = d.inTx(ctx, func(tx *sql.Tx) error {
		if err := d.lockMigrations(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY,
			applied_at BIGINT NOT NULL
		)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("storage: migrate: create schema_migrations: %w", err)
	}
	for _, m := range ms {
		if upTo > 0 && m.version > upTo {
			break
		}
		if err := d.inTx(ctx, func(tx *sql.Tx) error { return d.apply(ctx, tx, m) }); err != nil {
			return fmt.Errorf("storage: migrate %s: %w", m.name, err)
		}
	}
	return nil
}

// apply runs m in tx unless it is already recorded as applied.
func (d *DB) apply(ctx context.Context, tx *sql.Tx, m migration) error {
	if err := d.lockMigrations(ctx, tx); err != nil {
		return err
	}
	var applied int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&applied)
	if err != nil || applied > 0 {
		return err
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
		m.version, millis(d.clock()))
	return err
}

// lockMigrations takes the dialect's migration lock, held until tx ends.
func (d *DB) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	stmt := d.dialect.lockMigrations()
	if stmt == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, stmt)
	return err
}
