package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// OpenPostgres connects to the PostgreSQL database named by connString (a
// postgres:// URL or a key=value connection string) and applies pending
// migrations, serialized with other processes by an advisory lock.
func OpenPostgres(ctx context.Context, connString string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, pgParseError(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("storage: open postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("storage: open postgres: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	d := &DB{dialect: postgresDialect, writer: db, reader: db, pool: pool, now: time.Now}
	if err := d.migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// pgParseError reports a connection string that pgx could not parse. pgx's
// message quotes the string with the password masked on a best-effort basis;
// this one leaves the string out and keeps only the reason.
func pgParseError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		// url.Error quotes the whole URL; its Err is the reason alone.
		return fmt.Errorf("storage: invalid PostgreSQL URL: %w", ue.Err)
	}
	pe, ok := errors.AsType[*pgconn.ParseConfigError](err)
	if !ok {
		return errors.New("storage: invalid PostgreSQL URL")
	}
	masked := *pe
	masked.ConnString = ""
	reason := strings.TrimPrefix(masked.Error(), "cannot parse ``: ")
	return fmt.Errorf("storage: invalid PostgreSQL URL: %s", reason)
}

// poolStats reports a pgx pool's statistics in database/sql's terms. The
// *sql.DB over the pool keeps no idle connections of its own, so its Stats
// would show only the connections borrowed at that instant.
func poolStats(s *pgxpool.Stat) sql.DBStats {
	return sql.DBStats{
		MaxOpenConnections: int(s.MaxConns()),
		OpenConnections:    int(s.TotalConns()),
		InUse:              int(s.AcquiredConns()),
		Idle:               int(s.IdleConns()),
		WaitCount:          s.EmptyAcquireCount(),
		WaitDuration:       s.EmptyAcquireWaitTime(),
		MaxIdleTimeClosed:  s.MaxIdleDestroyCount(),
		MaxLifetimeClosed:  s.MaxLifetimeDestroyCount(),
	}
}
