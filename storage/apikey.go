package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// APIKey is a stored API key. The secret itself is never stored: Hash is its
// SHA-256, computed by the caller, and keys are found by it.
type APIKey struct {
	ID        string
	Name      string
	Hash      []byte
	CreatedAt time.Time
}

// CreateAPIKey stores a new key, setting its CreatedAt to now, and returns
// it. It returns ErrConflict if a key with the same ID or Hash exists.
func (d *DB) CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error) {
	if len(k.Hash) == 0 {
		return APIKey{}, fmt.Errorf("storage: create API key %q: empty hash", k.ID)
	}
	k.CreatedAt = d.clock()
	_, err := d.writer.ExecContext(ctx, `INSERT INTO api_keys (id, name, hash, created_at) VALUES ($1, $2, $3, $4)`,
		k.ID, k.Name, k.Hash, millis(k.CreatedAt))
	if isUniqueViolation(err) {
		err = ErrConflict
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("storage: create API key %q: %w", k.ID, err)
	}
	return k, nil
}

// APIKeyByHash returns the key whose secret hashes to hash, or ErrNotFound.
func (d *DB) APIKeyByHash(ctx context.Context, hash []byte) (APIKey, error) {
	var k APIKey
	var created int64
	err := d.reader.QueryRowContext(ctx, `SELECT id, name, hash, created_at FROM api_keys WHERE hash = $1`, hash).
		Scan(&k.ID, &k.Name, &k.Hash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		// The hash is not named: it identifies a secret.
		return APIKey{}, fmt.Errorf("storage: API key by hash: %w", err)
	}
	k.CreatedAt = fromMillis(created)
	return k, nil
}

// APIKeyCount returns the number of stored keys.
func (d *DB) APIKeyCount(ctx context.Context) (int, error) {
	var n int
	if err := d.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys`).Scan(&n); err != nil {
		return 0, fmt.Errorf("storage: count API keys: %w", err)
	}
	return n, nil
}
