package storage

import (
	"context"
	"database/sql"
	"time"
)

// SetClock makes d read the time from now. Call it before using d.
func SetClock(d *DB, now func() time.Time) { d.now = now }

// Migrate applies d's pending migrations again.
func Migrate(ctx context.Context, d *DB) error { return d.migrate(ctx) }

// MigrateTo applies d's pending migrations up to version upTo.
func MigrateTo(ctx context.Context, d *DB, upTo int) error { return d.migrateTo(ctx, upTo) }

// Exec runs a statement on d's writer, for setting up rows that have no
// methods yet.
func Exec(ctx context.Context, d *DB, query string, args ...any) (sql.Result, error) {
	return d.writer.ExecContext(ctx, query, args...)
}

// QueryRow runs a query on d's reader.
func QueryRow(ctx context.Context, d *DB, query string, args ...any) *sql.Row {
	return d.reader.QueryRowContext(ctx, query, args...)
}

// Strings runs a query of one text column on d's reader.
func Strings(ctx context.Context, d *DB, query string, args ...any) ([]string, error) {
	rows, err := d.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
