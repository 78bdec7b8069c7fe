package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultApp is the app of every room, key and token made before apps
// existed, and of every credential that names no app.
const DefaultApp = "default"

// keySep joins an app's ID and a room's ID in the room's key. It is in no
// app or room ID (both are [a-z0-9-]).
const keySep = "~"

// RoomKey returns the key of the room id of app: id itself for the default
// app, so that the rooms of an installation made before apps keep their
// keys, and "<app>~<id>" for other apps. Every table, the media hub, HLS and
// the recordings address a room by its key.
func RoomKey(app, id string) string {
	if app == DefaultApp || app == "" {
		return id
	}
	return app + keySep + id
}

// RoomName returns the room's ID within its app, the part of its key after
// the app.
func RoomName(key string) string {
	if _, id, ok := strings.Cut(key, keySep); ok {
		return id
	}
	return key
}

// KeyApp returns the app of a room key.
func KeyApp(key string) string {
	if app, _, ok := strings.Cut(key, keySep); ok {
		return app
	}
	return DefaultApp
}

// ScopedKey returns the key of the room that name addresses for a caller of
// app: the key of name in app, or name itself when it is already a key of
// app ("<app>~<id>", as the URLs the server hands out carry). ok is false
// when name is the key of a room of another app: such a room is not found.
func ScopedKey(app, name string) (key string, ok bool) {
	if a, _, cut := strings.Cut(name, keySep); cut {
		return name, a == app && app != DefaultApp
	}
	return RoomKey(app, name), true
}

// App is a namespace of rooms, keys and tokens with optional limits (nil:
// no limit).
type App struct {
	ID                string
	Name              string
	MaxRooms          *int64
	MaxParticipants   *int64
	MaxHLSViewers     *int64
	MaxRecordingBytes *int64
	// AttendanceRetentionDays is how long the app's attendance reports are
	// kept; nil: the server's setting.
	AttendanceRetentionDays *int64
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

// Limit names an app limit.
type Limit string

// The app limits.
const (
	LimitRooms          Limit = "max_rooms"
	LimitParticipants   Limit = "max_participants"
	LimitHLSViewers     Limit = "max_hls_viewers"
	LimitRecordingBytes Limit = "max_recording_bytes"
)

// LimitError says an app has reached one of its limits.
type LimitError struct {
	Limit Limit
	Max   int64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("the app has reached its limit %s (%d)", e.Limit, e.Max)
}

const appColumns = `id, name, max_rooms, max_participants, max_hls_viewers, max_recording_bytes, attendance_retention_days, created_at, updated_at`

func scanApp(s rowScanner) (App, error) {
	var a App
	var rooms, parts, viewers, bytes, retention sql.NullInt64
	var created, updated int64
	err := s.Scan(&a.ID, &a.Name, &rooms, &parts, &viewers, &bytes, &retention, &created, &updated)
	ptr := func(n sql.NullInt64) *int64 {
		if !n.Valid {
			return nil
		}
		return &n.Int64
	}
	a.MaxRooms, a.MaxParticipants, a.MaxHLSViewers, a.MaxRecordingBytes = ptr(rooms), ptr(parts), ptr(viewers), ptr(bytes)
	a.AttendanceRetentionDays = ptr(retention)
	a.CreatedAt, a.UpdatedAt = fromMillis(created), fromMillis(updated)
	return a, err
}

// CreateApp stores a new app, setting its times to now; ErrConflict if one
// with a.ID exists.
func (d *DB) CreateApp(ctx context.Context, a App) (App, error) {
	now := d.clock()
	a.CreatedAt, a.UpdatedAt = now, now
	_, err := d.writer.ExecContext(ctx, `INSERT INTO apps (`+appColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		a.ID, a.Name, a.MaxRooms, a.MaxParticipants, a.MaxHLSViewers, a.MaxRecordingBytes, a.AttendanceRetentionDays, millis(now), millis(now))
	if isUniqueViolation(err) {
		err = ErrConflict
	}
	if err != nil {
		return App{}, fmt.Errorf("storage: create app %q: %w", a.ID, err)
	}
	return a, nil
}

// App returns the app id, or ErrNotFound.
func (d *DB) App(ctx context.Context, id string) (App, error) {
	a, err := scanApp(d.reader.QueryRowContext(ctx, `SELECT `+appColumns+` FROM apps WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return App{}, fmt.Errorf("storage: app %q: %w", id, err)
	}
	return a, nil
}

// Apps returns every app, oldest first.
func (d *DB) Apps(ctx context.Context) ([]App, error) {
	rows, err := d.reader.QueryContext(ctx, `SELECT `+appColumns+` FROM apps ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("storage: apps: %w", err)
	}
	defer rows.Close()
	apps := []App{}
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: apps: %w", err)
		}
		apps = append(apps, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: apps: %w", err)
	}
	return apps, nil
}

// UpdateApp writes a's name and limits, sets its UpdatedAt and returns the
// stored app; ErrNotFound if there is none.
func (d *DB) UpdateApp(ctx context.Context, a App) (App, error) {
	stored, err := scanApp(d.writer.QueryRowContext(ctx, `UPDATE apps SET name = $2, max_rooms = $3,
			max_participants = $4, max_hls_viewers = $5, max_recording_bytes = $6, attendance_retention_days = $7,
			updated_at = $8
		WHERE id = $1 RETURNING `+appColumns,
		a.ID, a.Name, a.MaxRooms, a.MaxParticipants, a.MaxHLSViewers, a.MaxRecordingBytes, a.AttendanceRetentionDays, millis(d.clock())))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return App{}, fmt.Errorf("storage: update app %q: %w", a.ID, err)
	}
	return stored, nil
}

// ErrAppNotEmpty is returned when deleting an app that still has rooms or
// recordings.
var ErrAppNotEmpty = errors.New("storage: the app still has rooms")

// DeleteApp deletes app id and its API keys. It refuses (ErrAppNotEmpty)
// while the app has rooms or recordings, and the default app
// (ErrWrongState).
func (d *DB) DeleteApp(ctx context.Context, id string) error {
	if id == DefaultApp {
		return fmt.Errorf("storage: delete app %q: %w", id, ErrWrongState)
	}
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		var got string
		err := tx.QueryRowContext(ctx, `SELECT id FROM apps WHERE id = $1`+d.dialect.forUpdate(), id).Scan(&got)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var n int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM rooms WHERE app_id = $1`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrAppNotEmpty
		}
		// Recordings outlive their rooms: an app that still has some is
		// not deleted, so that an app made later with the same ID never
		// finds them.
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM recordings WHERE room_id LIKE $1`, id+keySep+"%").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrAppNotEmpty
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM api_keys WHERE app_id = $1 AND operator = $2`, id, false); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM apps WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("storage: delete app %q: %w", id, err)
	}
	return nil
}

// AppRecordingBytes returns the bytes of the recordings of app's rooms
// (recordings outlive their rooms, so they are counted by their room key).
func (d *DB) AppRecordingBytes(ctx context.Context, app string) (int64, error) {
	q, arg := `SELECT COALESCE(SUM(size_bytes), 0) FROM recordings WHERE room_id NOT LIKE $1`, "%"+keySep+"%"
	if app != DefaultApp {
		q, arg = `SELECT COALESCE(SUM(size_bytes), 0) FROM recordings WHERE room_id LIKE $1`, app+keySep+"%"
	}
	var n int64
	if err := d.reader.QueryRowContext(ctx, q, arg).Scan(&n); err != nil {
		return 0, fmt.Errorf("storage: recording bytes of app %q: %w", app, err)
	}
	return n, nil
}
