// Package storage is Lectern's state store: rooms, members, API keys, server
// secrets, chat messages and recording metadata, kept in SQLite (the embedded
// default) or PostgreSQL (for several nodes). Both backends share one
// implementation over database/sql and pass one contract test suite.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is an open store. It is safe for concurrent use; its connection pools are
// its only mutable state and they do their own locking.
type DB struct {
	dialect dialect
	// writer takes every write and transaction. On SQLite it holds a single
	// connection, so writers queue in the process instead of contending for
	// the file lock.
	writer *sql.DB
	// reader takes plain reads. On SQLite it is a separate query-only pool
	// (WAL lets readers run beside the writer); on PostgreSQL it is writer.
	reader *sql.DB
	// pool is the PostgreSQL pool under writer, nil on SQLite.
	pool *pgxpool.Pool
	path string
	now  func() time.Time
	// stmts holds prepared statements of hot chat queries (SQLite).
	stmts stmtCache
	// checkpoints copies SQLite's WAL into the database file; nil on
	// PostgreSQL.
	checkpoints *checkpointer

	// onRecording is called after recordings are written (hooks.go).
	onRecording hookSlot

	closeOnce sync.Once
	closeErr  error
}

// Open opens the store named by databaseURL and applies pending migrations.
// An empty databaseURL means the SQLite file lectern.db in dataDir, which is
// created (mode 0700) if missing; a postgres:// or postgresql:// URL means
// PostgreSQL. Errors name the URL's scheme, never the URL, which may hold a
// password.
func Open(ctx context.Context, databaseURL, dataDir string) (*DB, error) {
	if databaseURL == "" {
		if dataDir == "" {
			return nil, errors.New("storage: no database URL and no data directory")
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("storage: create data directory: %w", err)
		}
		return OpenSQLite(ctx, filepath.Join(dataDir, "lectern.db"))
	}
	switch scheme := urlScheme(databaseURL); strings.ToLower(scheme) {
	case "postgres", "postgresql":
		return OpenPostgres(ctx, databaseURL)
	case "":
		return nil, errors.New("storage: database URL has no scheme (want postgres://..., or none for SQLite)")
	default:
		return nil, fmt.Errorf("storage: unsupported database URL scheme %q (want postgres or postgresql)", scheme)
	}
}

// urlScheme returns the scheme of s (RFC 3986 section 3.1), or "" if s does
// not start with one. It does not parse the rest, so nothing after the colon
// can end up in an error message.
func urlScheme(s string) string {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return ""
	}
	for j, c := range s[:i] {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (j == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return ""
		}
	}
	return s[:i]
}

// Close closes the store's connections. Calling it again returns the first
// call's result.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		d.closeErr = d.stmts.close()
		if d.reader != d.writer {
			d.closeErr = errors.Join(d.closeErr, d.reader.Close())
		}
		if d.checkpoints != nil {
			d.closeErr = errors.Join(d.closeErr, d.checkpoints.close())
		}
		d.closeErr = errors.Join(d.closeErr, d.writer.Close())
		if d.pool != nil {
			d.pool.Close()
		}
	})
	return d.closeErr
}

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("storage: ping: %w", err)
	}
	if d.reader != d.writer {
		if err := d.reader.PingContext(ctx); err != nil {
			return fmt.Errorf("storage: ping reader: %w", err)
		}
	}
	return nil
}

// Backend returns "sqlite" or "postgres".
func (d *DB) Backend() string { return d.dialect.String() }

// Path returns the SQLite file's path, or "" on PostgreSQL.
func (d *DB) Path() string { return d.path }

// Stats returns the statistics of the pool that carries writes (on PostgreSQL,
// the one pool), for exporting as gauges.
func (d *DB) Stats() sql.DBStats {
	if d.pool != nil {
		return poolStats(d.pool.Stat())
	}
	return d.writer.Stats()
}

// clock returns the time to store as now: UTC, truncated to the millisecond
// that the columns keep, so a value returned by a write equals the value read
// back.
func (d *DB) clock() time.Time {
	return d.now().UTC().Truncate(time.Millisecond)
}

// millis converts t to a stored timestamp (unix milliseconds).
func millis(t time.Time) int64 { return t.UnixMilli() }

// fromMillis converts a stored timestamp to a time in UTC.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// rowScanner is what *sql.Row and *sql.Rows have in common.
type rowScanner interface {
	Scan(dest ...any) error
}

// inTx runs fn in a transaction on the writer, committing if fn returns nil.
func (d *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, ignoreDone(tx.Rollback()))
	}
	return tx.Commit()
}

// ignoreDone drops sql.ErrTxDone, which Rollback returns when the context
// already ended the transaction.
func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// rowsAffectedOrNotFound turns a write that touched no row into ErrNotFound.
func rowsAffectedOrNotFound(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
