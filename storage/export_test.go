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

// Exec runs a statement on d's writer, for setting up rows that have no
// methods yet.
func Exec(ctx context.Context, d *DB, query string, args ...any) (sql.Result, error) {
	return d.writer.ExecContext(ctx, query, args...)
}

// QueryRow runs a query on d's reader.
func QueryRow(ctx context.Context, d *DB, query string, args ...any) *sql.Row {
	return d.reader.QueryRowContext(ctx, query, args...)
}
