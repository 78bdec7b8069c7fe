package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// StreamKey is a room's encoder credential (RTSP and WHIP publishing).
type StreamKey struct {
	RoomID    string
	Key       string
	CreatedAt time.Time
}

// SetStreamKey stores key as the room's stream key, replacing any earlier one.
// ErrNotFound if the room does not exist.
func (d *DB) SetStreamKey(ctx context.Context, roomID, key string) (StreamKey, error) {
	k := StreamKey{RoomID: roomID, Key: key, CreatedAt: d.clock()}
	_, err := d.writer.ExecContext(ctx, `INSERT INTO stream_keys (room_id, stream_key, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (room_id) DO UPDATE SET stream_key = excluded.stream_key, created_at = excluded.created_at`,
		roomID, key, millis(k.CreatedAt))
	if isForeignKeyViolation(err) {
		return StreamKey{}, fmt.Errorf("storage: set stream key of %q: %w", roomID, ErrNotFound)
	}
	if err != nil {
		return StreamKey{}, fmt.Errorf("storage: set stream key of %q: %w", roomID, err)
	}
	return k, nil
}

// StreamKey returns the room's stream key; ErrNotFound if it has none.
func (d *DB) StreamKey(ctx context.Context, roomID string) (StreamKey, error) {
	k := StreamKey{RoomID: roomID}
	var created int64
	err := d.reader.QueryRowContext(ctx, `SELECT stream_key, created_at FROM stream_keys WHERE room_id = $1`, roomID).
		Scan(&k.Key, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return StreamKey{}, fmt.Errorf("storage: stream key of %q: %w", roomID, ErrNotFound)
	}
	if err != nil {
		return StreamKey{}, fmt.Errorf("storage: stream key of %q: %w", roomID, err)
	}
	k.CreatedAt = fromMillis(created)
	return k, nil
}

// DeleteStreamKey removes the room's stream key; ErrNotFound if it has none.
func (d *DB) DeleteStreamKey(ctx context.Context, roomID string) error {
	res, err := d.writer.ExecContext(ctx, `DELETE FROM stream_keys WHERE room_id = $1`, roomID)
	if err == nil {
		err = rowsAffectedOrNotFound(res)
	}
	if err != nil {
		return fmt.Errorf("storage: delete stream key of %q: %w", roomID, err)
	}
	return nil
}

// StreamKeyRoom returns the key of the room whose stream key is key;
// ErrNotFound if no room has it. The secret is not named in errors.
func (d *DB) StreamKeyRoom(ctx context.Context, key string) (string, error) {
	var room string
	err := d.reader.QueryRowContext(ctx, `SELECT room_id FROM stream_keys WHERE stream_key = $1`, key).Scan(&room)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("storage: room of a stream key: %w", err)
	}
	return room, nil
}
