package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ChatPoster is what deciding on one chat post needs to know, read in one
// query: the room's chat settings and the sender's mute and last message.
type ChatPoster struct {
	Mode            string
	Questions       bool
	SlowModeSeconds int
	MutedUntil      time.Time // zero if not muted
	LastPost        time.Time // zero if the sender never posted here
}

// ChatPoster returns the chat state of room for a sender, or ErrNotFound if
// the room does not exist.
func (d *DB) ChatPoster(ctx context.Context, roomID, identity string) (ChatPoster, error) {
	var p ChatPoster
	var muted, last int64
	err := d.readRow(ctx, `SELECT r.mode, r.chat_questions, r.chat_slow_mode_seconds,
			COALESCE((SELECT until_at FROM chat_mutes WHERE room_id = r.id AND identity = $2), 0),
			COALESCE((SELECT MAX(created_at) FROM messages WHERE room_id = r.id AND sender = $2), 0)
		FROM rooms r WHERE r.id = $1`, roomID, identity).
		Scan(&p.Mode, &p.Questions, &p.SlowModeSeconds, &muted, &last)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return ChatPoster{}, fmt.Errorf("storage: chat state of %q in room %q: %w", identity, roomID, err)
	}
	if muted > 0 {
		p.MutedUntil = fromMillis(muted)
	}
	if last > 0 {
		p.LastPost = fromMillis(last)
	}
	return p, nil
}

// SetChatSettings writes a room's chat settings alone, so that it races with
// no other change to the room, and returns the room. ErrNotFound if there is
// no such room.
func (d *DB) SetChatSettings(ctx context.Context, roomID string, questions bool, slowModeSeconds int) (Room, error) {
	r, err := scanRoom(d.writer.QueryRowContext(ctx, `UPDATE rooms SET
			chat_questions = $2, chat_slow_mode_seconds = $3, updated_at = $4
		WHERE id = $1 RETURNING `+roomColumns, roomID, questions, slowModeSeconds, millis(d.clock())))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Room{}, fmt.Errorf("storage: set chat settings of room %q: %w", roomID, err)
	}
	return r, nil
}

// ChatMute is a member's chat muted in a room until a time.
type ChatMute struct {
	RoomID    string
	Identity  string
	Until     time.Time
	CreatedAt time.Time
}

// SetChatMute mutes identity's chat in a room until until, replacing an
// earlier mute. ErrNotFound if the room does not exist.
func (d *DB) SetChatMute(ctx context.Context, roomID, identity string, until time.Time) (ChatMute, error) {
	m := ChatMute{RoomID: roomID, Identity: identity, Until: until.UTC().Truncate(time.Millisecond), CreatedAt: d.clock()}
	_, err := d.writer.ExecContext(ctx, `INSERT INTO chat_mutes (room_id, identity, until_at, created_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (room_id, identity) DO UPDATE SET until_at = excluded.until_at, created_at = excluded.created_at`,
		roomID, identity, millis(m.Until), millis(m.CreatedAt))
	if isForeignKeyViolation(err) {
		err = ErrNotFound
	}
	if err != nil {
		return ChatMute{}, fmt.Errorf("storage: mute %q in room %q: %w", identity, roomID, err)
	}
	return m, nil
}

// DeleteChatMute lifts a mute. ErrNotFound if there is none.
func (d *DB) DeleteChatMute(ctx context.Context, roomID, identity string) error {
	res, err := d.writer.ExecContext(ctx, `DELETE FROM chat_mutes WHERE room_id = $1 AND identity = $2`, roomID, identity)
	if err == nil {
		err = rowsAffectedOrNotFound(res)
	}
	if err != nil {
		return fmt.Errorf("storage: unmute %q in room %q: %w", identity, roomID, err)
	}
	return nil
}

// ChatMutes returns a room's mutes that last past now, by identity.
func (d *DB) ChatMutes(ctx context.Context, roomID string, now time.Time) ([]ChatMute, error) {
	rows, err := d.reader.QueryContext(ctx, `SELECT identity, until_at, created_at FROM chat_mutes
		WHERE room_id = $1 AND until_at > $2 ORDER BY identity`, roomID, millis(now))
	if err != nil {
		return nil, fmt.Errorf("storage: chat mutes of room %q: %w", roomID, err)
	}
	defer rows.Close()
	out := []ChatMute{}
	for rows.Next() {
		m := ChatMute{RoomID: roomID}
		var until, created int64
		if err := rows.Scan(&m.Identity, &until, &created); err != nil {
			return nil, fmt.Errorf("storage: chat mutes of room %q: %w", roomID, err)
		}
		m.Until, m.CreatedAt = fromMillis(until), fromMillis(created)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: chat mutes of room %q: %w", roomID, err)
	}
	return out, nil
}
