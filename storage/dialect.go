package storage

import (
	"errors"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect names a backend. Everything that differs between SQLite and
// PostgreSQL at run time is decided here; the SQL in the rest of the package is
// written once, with $N placeholders, which both drivers bind by number. The
// schemas differ only in the migration files (column types, autoincrement).
type dialect int

const (
	sqliteDialect dialect = iota
	postgresDialect
)

// String returns the backend name, also the migrations directory's name.
func (d dialect) String() string {
	if d == postgresDialect {
		return "postgres"
	}
	return "sqlite"
}

// migrationLockID is the PostgreSQL advisory lock key taken while migrating:
// "lectern" in ASCII.
const migrationLockID = 0x6c656374_65726e

// lockMigrations returns the statement that serializes migrations across
// processes, run first in every migration transaction. SQLite needs none: its
// write transactions begin IMMEDIATE and so already exclude each other.
func (d dialect) lockMigrations() string {
	if d == postgresDialect {
		return "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(migrationLockID, 10) + ")"
	}
	return ""
}

// skipLocked returns what ends a SELECT of rows to claim: on PostgreSQL it
// locks them and skips rows another transaction holds, so that nodes
// claiming at once take different rows. SQLite's single writer needs none.
func (d dialect) skipLocked() string {
	if d == postgresDialect {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// forUpdate returns what ends a SELECT of a row the transaction will
// change or counts under: on PostgreSQL it locks the row. SQLite's write
// transactions already exclude each other.
func (d dialect) forUpdate() string {
	if d == postgresDialect {
		return " FOR UPDATE"
	}
	return ""
}

// PostgreSQL SQLSTATE codes (Appendix A of its manual).
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
)

// isUniqueViolation reports whether err is a primary key or unique
// constraint violation from either backend.
// isBusy reports whether err is SQLite's SQLITE_BUSY (the file is locked).
func isBusy(err error) bool {
	e, ok := errors.AsType[*sqlite.Error](err)
	return ok && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

func isUniqueViolation(err error) bool {
	if e, ok := errors.AsType[*sqlite.Error](err); ok {
		return e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	}
	if e, ok := errors.AsType[*pgconn.PgError](err); ok {
		return e.Code == pgUniqueViolation
	}
	return false
}

// isForeignKeyViolation reports whether err is a foreign key violation from
// either backend.
func isForeignKeyViolation(err error) bool {
	if e, ok := errors.AsType[*sqlite.Error](err); ok {
		return e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	if e, ok := errors.AsType[*pgconn.PgError](err); ok {
		return e.Code == pgForeignKeyViolation
	}
	return false
}
