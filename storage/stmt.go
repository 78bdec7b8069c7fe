package storage

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmtCache keeps prepared statements of the hot chat queries on SQLite,
// where compiling a statement costs several times more than running it
// (modernc.org/sqlite caches none). PostgreSQL's driver caches its own, and
// the *sql.DB over its pool keeps no connections to hold statements, so
// there queries run as they are. Its mutex guards the map; the statements
// are safe for concurrent use.
type stmtCache struct {
	mu     sync.Mutex
	m      map[stmtKey]*sql.Stmt
	closed bool
}

type stmtKey struct {
	pool  *sql.DB
	query string
}

// prepared returns the cached statement of query on pool, preparing it the
// first time; nil on PostgreSQL, or if it cannot be prepared (the caller
// then runs the query as it is).
func (d *DB) prepared(ctx context.Context, pool *sql.DB, query string) *sql.Stmt {
	if d.dialect != sqliteDialect {
		return nil
	}
	c := &d.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	k := stmtKey{pool, query}
	if st := c.m[k]; st != nil {
		return st
	}
	st, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if c.m == nil {
		c.m = map[stmtKey]*sql.Stmt{}
	}
	c.m[k] = st
	return st
}

// readRow runs a one-row query on the reader, prepared where that helps.
func (d *DB) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := d.prepared(ctx, d.reader, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.reader.QueryRowContext(ctx, query, args...)
}

// read runs a query on the reader, prepared where that helps.
func (d *DB) read(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := d.prepared(ctx, d.reader, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.reader.QueryContext(ctx, query, args...)
}

// writeStmt is a statement to run in a transaction on the writer, prepared
// beforehand where that helps: preparing needs a connection, and the writer's
// one connection is taken while a transaction runs.
type writeStmt struct {
	query string
	st    *sql.Stmt // nil: run query as it is
}

// writeStmt prepares query for the writer. Call it before the transaction.
func (d *DB) writeStmt(ctx context.Context, query string) writeStmt {
	return writeStmt{query: query, st: d.prepared(ctx, d.writer, query)}
}

func (w writeStmt) queryRow(ctx context.Context, tx *sql.Tx, args ...any) *sql.Row {
	if w.st != nil {
		return tx.StmtContext(ctx, w.st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, w.query, args...)
}

func (w writeStmt) exec(ctx context.Context, tx *sql.Tx, args ...any) (sql.Result, error) {
	if w.st != nil {
		return tx.StmtContext(ctx, w.st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, w.query, args...)
}

// close closes the cached statements; later queries run unprepared.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var err error
	for _, st := range c.m {
		err = errors.Join(err, st.Close())
	}
	c.m = nil
	return err
}
