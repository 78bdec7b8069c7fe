package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Member is a room member's stored settings.
type Member struct {
	RoomID   string
	Identity string
	Name     string
	// Permissions is the canonical text form, such as "publish,subscribe";
	// storage keeps it as given.
	Permissions string
	// Tier is the member's resolution tier; "" means the room's.
	Tier string
	// ExtraSources (the canonical text of access.Sources) are sources the
	// member may send although its room's media policy refuses them.
	ExtraSources string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

const memberColumns = `room_id, identity, name, permissions, tier, extra_sources, created_at, updated_at`

func scanMember(s rowScanner) (Member, error) {
	var m Member
	var created, updated int64
	err := s.Scan(&m.RoomID, &m.Identity, &m.Name, &m.Permissions, &m.Tier, &m.ExtraSources, &created, &updated)
	m.CreatedAt, m.UpdatedAt = fromMillis(created), fromMillis(updated)
	return m, err
}

// CreateMember stores a new member, setting its CreatedAt and UpdatedAt to
// now, bumps the room's generation (Generation) and returns it. It returns ErrConflict if the room already has a member
// with m.Identity, and ErrNotFound if the room does not exist.
func (d *DB) CreateMember(ctx context.Context, m Member) (Member, error) {
	now := d.clock()
	m.CreatedAt, m.UpdatedAt = now, now
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO members (`+memberColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			m.RoomID, m.Identity, m.Name, m.Permissions, m.Tier, m.ExtraSources, millis(now), millis(now))
		if err != nil {
			return err
		}
		// A member record narrows tokens already issued to its identity.
		return bump(ctx, tx, m.RoomID)
	})
	switch {
	case isUniqueViolation(err):
		err = ErrConflict
	case isForeignKeyViolation(err):
		err = ErrNotFound
	}
	if err != nil {
		return Member{}, fmt.Errorf("storage: create member %q in room %q: %w", m.Identity, m.RoomID, err)
	}
	return m, nil
}

// Member returns the member of roomID with the given identity, or
// ErrNotFound.
func (d *DB) Member(ctx context.Context, roomID, identity string) (Member, error) {
	m, err := scanMember(d.reader.QueryRowContext(ctx,
		`SELECT `+memberColumns+` FROM members WHERE room_id = $1 AND identity = $2`, roomID, identity))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Member{}, fmt.Errorf("storage: member %q in room %q: %w", identity, roomID, err)
	}
	return m, nil
}

// Members returns the members of a room ordered by identity (byte order), an
// empty slice if it has none, or ErrNotFound if the room does not exist.
func (d *DB) Members(ctx context.Context, roomID string) ([]Member, error) {
	members, err := d.members(ctx, roomID)
	if err == nil && len(members) == 0 {
		// An empty list may mean a missing room. Asking afterwards rather
		// than in one transaction is good enough: at worst a room created
		// and filled in between is reported empty, as if asked earlier.
		var n int
		err = d.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM rooms WHERE id = $1`, roomID).Scan(&n)
		if err == nil && n == 0 {
			err = ErrNotFound
		}
	}
	if err != nil {
		return nil, fmt.Errorf("storage: members of room %q: %w", roomID, err)
	}
	return members, nil
}

func (d *DB) members(ctx context.Context, roomID string) ([]Member, error) {
	rows, err := d.reader.QueryContext(ctx,
		`SELECT `+memberColumns+` FROM members WHERE room_id = $1 ORDER BY identity`, roomID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	members := []Member{}
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, err
		}
		members = append(members, m)
	}
	return members, rows.Err()
}

// UpdateMember writes m's Name, Permissions, Tier and ExtraSources to the stored member,
// sets its UpdatedAt to now, bumps the room's generation and returns the
// stored member. It returns
// ErrNotFound if there is no such member.
// On PostgreSQL the change is announced to every process (ListenChat) as it
// commits, so that each applies it to the connections it holds.
func (d *DB) UpdateMember(ctx context.Context, m Member) (Member, error) {
	var stored Member
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, `UPDATE members SET
				name = $3, permissions = $4, tier = $5, extra_sources = $6, updated_at = $7
			WHERE room_id = $1 AND identity = $2
			RETURNING `+memberColumns,
			m.RoomID, m.Identity, m.Name, m.Permissions, m.Tier, m.ExtraSources, millis(d.clock()))
		var err error
		if stored, err = scanMember(row); err != nil {
			return err
		}
		if err := bump(ctx, tx, m.RoomID); err != nil {
			return err
		}
		return d.announce(ctx, tx, m.RoomID+" "+m.Identity)
	})
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Member{}, fmt.Errorf("storage: update member %q in room %q: %w", m.Identity, m.RoomID, err)
	}
	return stored, nil
}

// DeleteMember deletes a member and revokes, in its room, every token of its
// identity issued until now (RevokeIdentity). It returns ErrNotFound if there
// is no such member.
func (d *DB) DeleteMember(ctx context.Context, roomID, identity string) error {
	now := d.clock()
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM members WHERE room_id = $1 AND identity = $2`, roomID, identity)
		if err == nil {
			err = rowsAffectedOrNotFound(res)
		}
		if err != nil {
			return err
		}
		return revokeIdentity(ctx, tx, roomID, identity, now)
	})
	if err != nil {
		return fmt.Errorf("storage: delete member %q in room %q: %w", identity, roomID, err)
	}
	return nil
}
