package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Secret returns the value stored under name, first storing one made by
// generate if there is none. Processes sharing the database agree on one
// value: the first to insert wins, the others discard what they generated and
// read the winner's. generate is not called when the value exists.
func (d *DB) Secret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	v, err := secretValue(ctx, d.reader, name)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("storage: secret %q: %w", name, err)
	}
	v, err = generate()
	if err != nil {
		return nil, fmt.Errorf("storage: secret %q: generate: %w", name, err)
	}
	if len(v) == 0 {
		return nil, fmt.Errorf("storage: secret %q: generated value is empty", name)
	}
	_, err = d.writer.ExecContext(ctx,
		`INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, v)
	if err != nil {
		return nil, fmt.Errorf("storage: secret %q: %w", name, err)
	}
	// Read back from the writer: whichever insert won, it has committed.
	if v, err = secretValue(ctx, d.writer, name); err != nil {
		return nil, fmt.Errorf("storage: secret %q: %w", name, err)
	}
	return v, nil
}

func secretValue(ctx context.Context, db *sql.DB, name string) ([]byte, error) {
	var v []byte
	err := db.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&v)
	return v, err
}
