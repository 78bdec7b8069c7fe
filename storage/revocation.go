package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// TokensScope is the generation scope of the revoked token IDs (room IDs
// cannot start with '*').
const TokensScope = "*tokens"

// IdentityRevocation is what was revoked of one identity in one room.
type IdentityRevocation struct {
	// RevokedAt: tokens issued at or before it (whole seconds) are refused.
	RevokedAt time.Time
	// BannedUntil: until then every token of the identity is refused.
	BannedUntil time.Time
}

// Generation returns the change counter of scope (a room ID or TokensScope),
// 0 if it never changed. Every change that can narrow a token's grant in a
// room bumps the room's counter in its own transaction; revoking a token ID
// bumps TokensScope's.
func (d *DB) Generation(ctx context.Context, scope string) (int64, error) {
	var g int64
	err := d.reader.QueryRowContext(ctx, `SELECT generation FROM generations WHERE scope = $1`, scope).Scan(&g)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("storage: generation of %q: %w", scope, err)
	}
	return g, nil
}

// bump increments scope's generation inside tx.
func bump(ctx context.Context, tx *sql.Tx, scope string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO generations (scope, generation) VALUES ($1, 1)
		ON CONFLICT (scope) DO UPDATE SET generation = generations.generation + 1`, scope)
	return err
}

// RevokeToken records that the token with id no longer works anywhere. until
// is when the token would have expired at the latest; the row may be dropped
// after it.
func (d *DB) RevokeToken(ctx context.Context, id string, until time.Time) error {
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO token_revocations (token_id, expires_at) VALUES ($1, $2)
			ON CONFLICT (token_id) DO UPDATE SET expires_at = excluded.expires_at`, id, millis(until))
		if err != nil {
			return err
		}
		// Expired rows go as new ones come, so the table stays as small as
		// the revoked tokens that could still be used.
		if _, err := tx.ExecContext(ctx, `DELETE FROM token_revocations WHERE expires_at < $1`, millis(d.clock())); err != nil {
			return err
		}
		return bump(ctx, tx, TokensScope)
	})
	if err != nil {
		return fmt.Errorf("storage: revoke token: %w", err)
	}
	return nil
}

// RevokedTokens returns the IDs of the revoked tokens that have not expired.
func (d *DB) RevokedTokens(ctx context.Context) ([]string, error) {
	rows, err := d.reader.QueryContext(ctx, `SELECT token_id FROM token_revocations WHERE expires_at >= $1`, millis(d.clock()))
	if err != nil {
		return nil, fmt.Errorf("storage: revoked tokens: %w", err)
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("storage: revoked tokens: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: revoked tokens: %w", err)
	}
	return ids, nil
}

// RevokeIdentity refuses, in roomID, every token of identity issued until
// now, and returns the time recorded. It returns ErrNotFound if the room does
// not exist.
func (d *DB) RevokeIdentity(ctx context.Context, roomID, identity string) (time.Time, error) {
	now := d.clock()
	err := d.inTx(ctx, func(tx *sql.Tx) error { return revokeIdentity(ctx, tx, roomID, identity, now) })
	if isForeignKeyViolation(err) {
		err = ErrNotFound
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("storage: revoke %q in room %q: %w", identity, roomID, err)
	}
	return now, nil
}

func revokeIdentity(ctx context.Context, tx *sql.Tx, roomID, identity string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO identity_revocations (room_id, identity, revoked_at) VALUES ($1, $2, $3)
		ON CONFLICT (room_id, identity) DO UPDATE SET revoked_at = excluded.revoked_at`, roomID, identity, millis(at))
	if err != nil {
		return err
	}
	return bump(ctx, tx, roomID)
}

// BanIdentity refuses every token of identity in roomID until the given
// time (the zero time lifts a ban). It returns ErrNotFound if the room does
// not exist.
func (d *DB) BanIdentity(ctx context.Context, roomID, identity string, until time.Time) error {
	var ms int64
	if !until.IsZero() {
		ms = millis(until)
	}
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO identity_revocations (room_id, identity, banned_until) VALUES ($1, $2, $3)
			ON CONFLICT (room_id, identity) DO UPDATE SET banned_until = excluded.banned_until`, roomID, identity, ms)
		if err != nil {
			return err
		}
		return bump(ctx, tx, roomID)
	})
	if isForeignKeyViolation(err) {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("storage: ban %q in room %q: %w", identity, roomID, err)
	}
	return nil
}

// IdentityRevocation returns what was revoked of identity in roomID; the zero
// value if nothing was.
func (d *DB) IdentityRevocation(ctx context.Context, roomID, identity string) (IdentityRevocation, error) {
	var revoked, banned int64
	err := d.reader.QueryRowContext(ctx, `SELECT revoked_at, banned_until FROM identity_revocations
		WHERE room_id = $1 AND identity = $2`, roomID, identity).Scan(&revoked, &banned)
	if errors.Is(err, sql.ErrNoRows) {
		return IdentityRevocation{}, nil
	}
	if err != nil {
		return IdentityRevocation{}, fmt.Errorf("storage: revocation of %q in room %q: %w", identity, roomID, err)
	}
	var r IdentityRevocation
	if revoked > 0 {
		r.RevokedAt = fromMillis(revoked)
	}
	if banned > 0 {
		r.BannedUntil = fromMillis(banned)
	}
	return r, nil
}
