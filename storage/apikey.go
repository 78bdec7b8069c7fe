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
	ID   string
	Name string
	Hash []byte
	// App is the app the key administers; Operator keys manage apps and
	// administer the default app (their App is "default").
	App       string
	Operator  bool
	CreatedAt time.Time
}

const apiKeyColumns = `id, name, hash, app_id, operator, created_at`

func scanAPIKey(s rowScanner) (APIKey, error) {
	var k APIKey
	var created int64
	err := s.Scan(&k.ID, &k.Name, &k.Hash, &k.App, &k.Operator, &created)
	k.CreatedAt = fromMillis(created)
	return k, err
}

// CreateAPIKey stores a new key, setting its CreatedAt to now, and returns
// it. It returns ErrConflict if a key with the same ID or Hash exists.
func (d *DB) CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error) {
	if len(k.Hash) == 0 {
		return APIKey{}, fmt.Errorf("storage: create API key %q: empty hash", k.ID)
	}
	k.CreatedAt = d.clock()
	if k.App == "" || k.Operator {
		k.App = DefaultApp
	}
	_, err := d.writer.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.Name, k.Hash, k.App, k.Operator, millis(k.CreatedAt))
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
	k, err := scanAPIKey(d.reader.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		// The hash is not named: it identifies a secret.
		return APIKey{}, fmt.Errorf("storage: API key by hash: %w", err)
	}
	return k, nil
}

// APIKeyCount returns the number of stored operator keys (the admin keys of
// the installation: app keys are not counted).
func (d *DB) APIKeyCount(ctx context.Context) (int, error) {
	var n int
	if err := d.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys WHERE operator = $1`, true).Scan(&n); err != nil {
		return 0, fmt.Errorf("storage: count API keys: %w", err)
	}
	return n, nil
}

// AppAPIKeys returns the keys of app (not operator keys), oldest first.
func (d *DB) AppAPIKeys(ctx context.Context, app string) ([]APIKey, error) {
	rows, err := d.reader.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys
		WHERE app_id = $1 AND operator = $2 ORDER BY created_at, id`, app, false)
	if err != nil {
		return nil, fmt.Errorf("storage: API keys of app %q: %w", app, err)
	}
	defer rows.Close()
	keys := []APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: API keys of app %q: %w", app, err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: API keys of app %q: %w", app, err)
	}
	return keys, nil
}

// DeleteAppAPIKey deletes the key id of app (never an operator key); ErrNotFound
// if app has no such key.
func (d *DB) DeleteAppAPIKey(ctx context.Context, app, id string) error {
	res, err := d.writer.ExecContext(ctx, `DELETE FROM api_keys WHERE id = $1 AND app_id = $2 AND operator = $3`, id, app, false)
	if err == nil {
		err = rowsAffectedOrNotFound(res)
	}
	if err != nil {
		return fmt.Errorf("storage: delete API key %q of app %q: %w", id, app, err)
	}
	return nil
}
