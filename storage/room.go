package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Room is a stored room. Its text fields are opaque here; the API validates
// them.
type Room struct {
	// ID is the room's key: its ID in its app for the default app,
	// "<app>~<id>" for other apps (RoomKey).
	ID string
	// App is the app the room belongs to; "" means DefaultApp on create.
	App        string
	Name       string
	Mode       string
	Tier       string
	PIN        string
	SpeakerPIN string
	// BroadcastHLS and BroadcastRecord are the broadcast settings: whether
	// the room is served over HLS and whether its broadcast is recorded.
	BroadcastHLS    bool
	BroadcastRecord bool
	// ChatQuestions makes a webinar take questions: its audience PIN also
	// grants send. ChatSlowModeSeconds, when positive, is how long a sender
	// without moderate waits between chat messages.
	ChatQuestions       bool
	ChatSlowModeSeconds int
	// Locked refuses new PIN joins (a moderator's lock); tokens still work.
	Locked bool
	// RefusedSources (the canonical text of access.Sources, "" for none)
	// and NoSimulcast are the room's media policy, stored as what it
	// refuses so that the zero Room takes everything.
	RefusedSources string
	NoSimulcast    bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

const roomColumns = `id, app_id, name, mode, tier, pin, speaker_pin, broadcast_hls, broadcast_record, chat_questions, chat_slow_mode_seconds, locked, refused_sources, no_simulcast, created_at, updated_at`

func scanRoom(s rowScanner) (Room, error) {
	var r Room
	var created, updated int64
	err := s.Scan(&r.ID, &r.App, &r.Name, &r.Mode, &r.Tier, &r.PIN, &r.SpeakerPIN,
		&r.BroadcastHLS, &r.BroadcastRecord, &r.ChatQuestions, &r.ChatSlowModeSeconds, &r.Locked, &r.RefusedSources, &r.NoSimulcast, &created, &updated)
	r.CreatedAt, r.UpdatedAt = fromMillis(created), fromMillis(updated)
	return r, err
}

// CreateRoom stores a new room, setting its CreatedAt and UpdatedAt to now,
// and returns it. It returns ErrConflict if a room with r.ID exists.
func (d *DB) CreateRoom(ctx context.Context, r Room) (Room, error) {
	now := d.clock()
	r.CreatedAt, r.UpdatedAt = now, now
	if r.App == "" {
		r.App = DefaultApp
	}
	if RoomKey(r.App, RoomName(r.ID)) != r.ID {
		return Room{}, fmt.Errorf("storage: create room %q: its key is not of app %q", r.ID, r.App)
	}
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		// The app's row is locked (PostgreSQL) or the write serialized
		// (SQLite) while its rooms are counted, so that concurrent creations
		// cannot pass its room limit together.
		var max sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT max_rooms FROM apps WHERE id = $1`+d.dialect.forUpdate(), r.App).Scan(&max)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("app %q: %w", r.App, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if max.Valid {
			var n int64
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM rooms WHERE app_id = $1`, r.App).Scan(&n); err != nil {
				return err
			}
			if n >= max.Int64 {
				return &LimitError{Limit: LimitRooms, Max: max.Int64}
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO rooms (`+roomColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			r.ID, r.App, r.Name, r.Mode, r.Tier, r.PIN, r.SpeakerPIN,
			r.BroadcastHLS, r.BroadcastRecord, r.ChatQuestions, r.ChatSlowModeSeconds, r.Locked,
			r.RefusedSources, r.NoSimulcast, millis(now), millis(now))
		return err
	})
	if isUniqueViolation(err) {
		err = ErrConflict
	}
	if err != nil {
		return Room{}, fmt.Errorf("storage: create room %q: %w", r.ID, err)
	}
	return r, nil
}

// Room returns the room with the given id, or ErrNotFound.
func (d *DB) Room(ctx context.Context, id string) (Room, error) {
	r, err := scanRoom(d.reader.QueryRowContext(ctx, `SELECT `+roomColumns+` FROM rooms WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Room{}, fmt.Errorf("storage: room %q: %w", id, err)
	}
	return r, nil
}

// Rooms returns every room of every app, oldest first (ties broken by id).
// It returns an empty slice, not nil, when there are none.
func (d *DB) Rooms(ctx context.Context) ([]Room, error) {
	return d.queryRooms(ctx, `SELECT `+roomColumns+` FROM rooms ORDER BY created_at, id`)
}

// AppRooms returns the rooms of app, oldest first (ties broken by id), an
// empty slice when there are none.
func (d *DB) AppRooms(ctx context.Context, app string) ([]Room, error) {
	return d.queryRooms(ctx, `SELECT `+roomColumns+` FROM rooms WHERE app_id = $1 ORDER BY created_at, id`, app)
}

func (d *DB) queryRooms(ctx context.Context, q string, args ...any) ([]Room, error) {
	rows, err := d.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: rooms: %w", err)
	}
	defer rows.Close()
	rooms := []Room{}
	for rows.Next() {
		r, err := scanRoom(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: rooms: %w", err)
		}
		rooms = append(rooms, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: rooms: %w", err)
	}
	return rooms, nil
}

// UpdateRoom writes every field of r but ID and CreatedAt to the room with
// r.ID, sets its UpdatedAt to now and returns the stored room. It returns
// ErrNotFound if there is no such room.
func (d *DB) UpdateRoom(ctx context.Context, r Room) (Room, error) {
	row := d.writer.QueryRowContext(ctx, `UPDATE rooms SET
			name = $2, mode = $3, tier = $4, pin = $5, speaker_pin = $6,
			broadcast_hls = $7, broadcast_record = $8,
			chat_questions = $9, chat_slow_mode_seconds = $10, locked = $11,
			refused_sources = $12, no_simulcast = $13, updated_at = $14
		WHERE id = $1
		RETURNING `+roomColumns,
		r.ID, r.Name, r.Mode, r.Tier, r.PIN, r.SpeakerPIN,
		r.BroadcastHLS, r.BroadcastRecord, r.ChatQuestions, r.ChatSlowModeSeconds, r.Locked,
		r.RefusedSources, r.NoSimulcast, millis(d.clock()))
	stored, err := scanRoom(row)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Room{}, fmt.Errorf("storage: update room %q: %w", r.ID, err)
	}
	return stored, nil
}

// DeleteRoom deletes the room with the given id, and with it its members and
// chat messages. It returns ErrNotFound if there is no such room.
func (d *DB) DeleteRoom(ctx context.Context, id string) error {
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM rooms WHERE id = $1`, id)
		if err == nil {
			err = rowsAffectedOrNotFound(res)
		}
		if err != nil {
			return err
		}
		if err := bump(ctx, tx, id); err != nil {
			return err
		}
		return d.announce(ctx, tx, id)
	})
	if err != nil {
		return fmt.Errorf("storage: delete room %q: %w", id, err)
	}
	return nil
}
