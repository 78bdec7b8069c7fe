package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"time"
)

// readerConns is the size of the SQLite read pool. WAL readers do not block
// each other or the writer, so a few cover a 2-core machine.
const readerConns = 4

// OpenSQLite opens (creating if needed) the SQLite database at path and
// applies pending migrations. Writes go through one connection; reads through
// a small query-only pool.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("storage: open sqlite: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("storage: open sqlite %s: %w", path, err)
	}
	writer, err := openSQLitePool(ctx, abs, false)
	if err != nil {
		return nil, fmt.Errorf("storage: open sqlite %s: %w", path, err)
	}
	d := &DB{dialect: sqliteDialect, writer: writer, reader: writer, path: path, now: time.Now}
	if err := d.migrate(ctx); err != nil {
		writer.Close()
		return nil, err
	}
	// The reader opens after migrating: by then the file exists and is in WAL
	// mode, which query-only connections could not set up themselves.
	reader, err := openSQLitePool(ctx, abs, true)
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("storage: open sqlite %s: %w", path, err)
	}
	d.reader = reader
	cp, err := openSQLitePool(ctx, abs, false)
	if err != nil {
		reader.Close()
		writer.Close()
		return nil, fmt.Errorf("storage: open sqlite %s: %w", path, err)
	}
	d.checkpoints = startCheckpointer(cp)
	return d, nil
}

// openSQLitePool opens and pings a pool on the file at the absolute path abs.
func openSQLitePool(ctx context.Context, abs string, readOnly bool) (*sql.DB, error) {
	db, err := sql.Open("sqlite", sqliteDSN(abs, readOnly))
	if err != nil {
		return nil, err
	}
	if readOnly {
		db.SetMaxOpenConns(readerConns)
		db.SetMaxIdleConns(readerConns)
	} else {
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
	}
	if err := pingSQLite(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// busyWait is how long opening a database waits for other processes
// opening it at the same moment, as busy_timeout does for statements.
const busyWait = 5 * time.Second

// pingSQLite opens the pool's first connection, which runs the DSN's
// pragmas. Switching a new file to WAL needs the file to itself, and SQLite
// answers SQLITE_BUSY at once, without its busy handler, when another
// process is opening or migrating it (TestOpenConcurrent, under load): so
// busy is tried again, with backoff, for up to busyWait.
func pingSQLite(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyWait)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := db.PingContext(ctx)
		if !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// sqliteDSN returns the modernc.org/sqlite data source name for the file at
// abs. Pragmas go in the DSN because the driver runs them on every new
// connection; a PRAGMA statement would reach only one connection of the pool.
func sqliteDSN(abs string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		// Take the write lock at BEGIN: a deferred transaction that reads
		// first and writes later can fail with SQLITE_BUSY when another
		// process wrote in between, without waiting for busy_timeout.
		q.Set("_txlock", "immediate")
		// Checkpoints run on a connection of their own (checkpointer).
		q.Add("_pragma", "wal_autocheckpoint(0)")
	}
	// A file: URI, so that a '?' or '#' in the path is escaped rather than
	// taken for the start of the parameters.
	return "file:" + (&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath() + "?" + q.Encode()
}
