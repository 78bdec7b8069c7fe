package storage

import (
	"context"
	"fmt"
)

// ResetSchemaTo drops every table of d, migrates it to version (the
// database as the release whose last migration was version left it) and
// runs rows, statements that store rows in that release's shape. It is for
// tests of upgrades from an earlier release (the server never calls it);
// everything stored in d is lost.
func ResetSchemaTo(ctx context.Context, d *DB, version int, rows ...string) error {
	var stmts []string
	if d.dialect == postgresDialect {
		stmts = []string{`DROP SCHEMA public CASCADE`, `CREATE SCHEMA public`}
	} else {
		tables, err := d.writer.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
		if err != nil {
			return fmt.Errorf("storage: reset schema: %w", err)
		}
		var names []string
		for tables.Next() {
			var n string
			if err := tables.Scan(&n); err != nil {
				tables.Close()
				return fmt.Errorf("storage: reset schema: %w", err)
			}
			names = append(names, n)
		}
		tables.Close()
		stmts = append(stmts, `PRAGMA foreign_keys = OFF`)
		for _, n := range names {
			stmts = append(stmts, `DROP TABLE "`+n+`"`)
		}
		stmts = append(stmts, `PRAGMA foreign_keys = ON`)
	}
	for _, q := range stmts {
		if _, err := d.writer.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("storage: reset schema: %s: %w", q, err)
		}
	}
	if err := d.migrateTo(ctx, version); err != nil {
		return err
	}
	for _, q := range rows {
		if _, err := d.writer.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("storage: reset schema: %s: %w", q, err)
		}
	}
	return nil
}
