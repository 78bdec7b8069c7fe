package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Attendance roles: a participant of the room (WebRTC, WHIP, WHEP, RTSP
// encoder) or an HLS viewer.
const (
	RoleParticipant = "participant"
	RoleViewer      = "viewer"
)

// AttendanceSession is one session of a room: from the first participant or
// viewer arriving to the room standing empty. EndedAt is zero while it runs.
type AttendanceSession struct {
	ID           string
	App          string
	RoomID       string
	Node         string
	StartedAt    time.Time
	EndedAt      time.Time
	PeakAudience int
	// Broadcast is set once an HLS viewer watched the session.
	Broadcast bool
	UpdatedAt time.Time
}

// AttendanceEntry is one stay of a participant or viewer in a session.
// LeftAt is zero while it is present.
type AttendanceEntry struct {
	ID        string
	SessionID string
	Identity  string
	Name      string
	Role      string
	Kind      string
	JoinedAt  time.Time
	LeftAt    time.Time
	UpdatedAt time.Time
}

// QuestionCount is what one identity asked in a room's chat Q&A over a
// period: questions posted, and how many of them are answered now.
type QuestionCount struct{ Asked, Answered int }

func optMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return millis(t)
}

func fromOptMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return fromMillis(ms)
}

// upsertSession writes s if its room exists (deleting a room deletes its
// sessions; a session still running in memory must not bring them back).
func upsertSession(ctx context.Context, tx *sql.Tx, s AttendanceSession, now int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO attendance_sessions
		(id, app_id, room_id, node, started_at, ended_at, peak_audience, broadcast, updated_at)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM rooms WHERE id = $3)
		ON CONFLICT (id) DO UPDATE SET ended_at = excluded.ended_at, peak_audience = excluded.peak_audience,
		broadcast = excluded.broadcast, updated_at = excluded.updated_at`,
		s.ID, s.App, s.RoomID, s.Node, millis(s.StartedAt), optMillis(s.EndedAt), s.PeakAudience, s.Broadcast, now)
	return err
}

// upsertEntry writes e if its session is stored.
func upsertEntry(ctx context.Context, tx *sql.Tx, e AttendanceEntry, now int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO attendance_entries
		(id, session_id, identity, name, role, kind, joined_at, left_at, updated_at)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM attendance_sessions WHERE id = $2)
		ON CONFLICT (id) DO UPDATE SET identity = excluded.identity, name = excluded.name,
		left_at = excluded.left_at, updated_at = excluded.updated_at`,
		e.ID, e.SessionID, e.Identity, e.Name, e.Role, e.Kind, millis(e.JoinedAt), optMillis(e.LeftAt), now)
	return err
}

const sessionColumns = `id, app_id, room_id, node, started_at, ended_at, peak_audience, broadcast, updated_at`

func scanSession(s rowScanner) (AttendanceSession, error) {
	var a AttendanceSession
	var started, ended, updated int64
	err := s.Scan(&a.ID, &a.App, &a.RoomID, &a.Node, &started, &ended, &a.PeakAudience, &a.Broadcast, &updated)
	a.StartedAt, a.EndedAt, a.UpdatedAt = fromMillis(started), fromOptMillis(ended), fromMillis(updated)
	return a, err
}

// AttendanceSessions lists a room's sessions, newest first, at most limit.
func (d *DB) AttendanceSessions(ctx context.Context, roomID string, limit int) ([]AttendanceSession, error) {
	rows, err := d.reader.QueryContext(ctx, `SELECT `+sessionColumns+` FROM attendance_sessions
		WHERE room_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2`, roomID, limit)
	if err != nil {
		return nil, fmt.Errorf("storage: attendance sessions %s: %w", roomID, err)
	}
	defer rows.Close()
	out := []AttendanceSession{}
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: attendance sessions %s: %w", roomID, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: attendance sessions %s: %w", roomID, err)
	}
	return out, nil
}

// AttendanceSession returns a room's session by ID, ErrNotFound if the room
// has none by that ID.
func (d *DB) AttendanceSession(ctx context.Context, roomID, id string) (AttendanceSession, error) {
	s, err := scanSession(d.reader.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM attendance_sessions
		WHERE room_id = $1 AND id = $2`, roomID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, ErrNotFound
	}
	if err != nil {
		return s, fmt.Errorf("storage: attendance session %s: %w", id, err)
	}
	return s, nil
}

// AttendanceEntries returns a session's entries in the order they began.
func (d *DB) AttendanceEntries(ctx context.Context, sessionID string) ([]AttendanceEntry, error) {
	rows, err := d.reader.QueryContext(ctx, `SELECT id, session_id, identity, name, role, kind, joined_at, left_at, updated_at
		FROM attendance_entries WHERE session_id = $1 ORDER BY joined_at, id`, sessionID)
	if err != nil {
		return nil, fmt.Errorf("storage: attendance entries %s: %w", sessionID, err)
	}
	defer rows.Close()
	var out []AttendanceEntry
	for rows.Next() {
		var e AttendanceEntry
		var joined, left, updated int64
		if err := rows.Scan(&e.ID, &e.SessionID, &e.Identity, &e.Name, &e.Role, &e.Kind, &joined, &left, &updated); err != nil {
			return nil, fmt.Errorf("storage: attendance entries %s: %w", sessionID, err)
		}
		e.JoinedAt, e.LeftAt, e.UpdatedAt = fromMillis(joined), fromOptMillis(left), fromMillis(updated)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: attendance entries %s: %w", sessionID, err)
	}
	return out, nil
}

// QuestionCounts counts the chat questions each identity posted in a room
// in [from, to) (to zero: until now), and how many of them are answered.
// Deleted questions count as asked.
func (d *DB) QuestionCounts(ctx context.Context, roomID string, from, to time.Time) (map[string]QuestionCount, error) {
	end := int64(1<<63 - 1)
	if !to.IsZero() {
		end = millis(to)
	}
	rows, err := d.reader.QueryContext(ctx, `SELECT sender, COUNT(*), SUM(CASE WHEN state = $4 THEN 1 ELSE 0 END)
		FROM messages WHERE room_id = $1 AND kind = $5 AND created_at >= $2 AND created_at < $3 GROUP BY sender`,
		roomID, millis(from), end, StateAnswered, KindQuestion)
	if err != nil {
		return nil, fmt.Errorf("storage: question counts %s: %w", roomID, err)
	}
	defer rows.Close()
	out := map[string]QuestionCount{}
	for rows.Next() {
		var who string
		var q QuestionCount
		if err := rows.Scan(&who, &q.Asked, &q.Answered); err != nil {
			return nil, fmt.Errorf("storage: question counts %s: %w", roomID, err)
		}
		out[who] = q
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: question counts %s: %w", roomID, err)
	}
	return out, nil
}

// CloseStaleAttendance ends what node left open when it stopped without
// closing them (a crash): its sessions, and their entries still open, end
// at the session's last write.
func (d *DB) CloseStaleAttendance(ctx context.Context, node string) (int64, error) {
	var n int64
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		// A running session is written at every flush, its entries only
		// when they change: the session's last write is the node's last sign
		// of life.
		if _, err := tx.ExecContext(ctx, `UPDATE attendance_entries
			SET left_at = (SELECT s.updated_at FROM attendance_sessions s WHERE s.id = attendance_entries.session_id)
			WHERE left_at = 0 AND session_id IN (SELECT id FROM attendance_sessions WHERE node = $1 AND ended_at = 0)`, node); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE attendance_sessions SET ended_at = updated_at WHERE node = $1 AND ended_at = 0`, node)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("storage: close stale attendance: %w", err)
	}
	return n, nil
}

// PruneAttendance deletes the sessions (and their entries) that ended longer
// ago than now: their app's attendance retention, or keep for apps without one.
func (d *DB) PruneAttendance(ctx context.Context, now time.Time, keep time.Duration) (int64, error) {
	res, err := d.writer.ExecContext(ctx, `DELETE FROM attendance_sessions WHERE ended_at > 0 AND ended_at < $1 - COALESCE(
			(SELECT apps.attendance_retention_days * 86400000 FROM apps WHERE apps.id = attendance_sessions.app_id), $2)`,
		millis(now), keep.Milliseconds())
	if err != nil {
		return 0, fmt.Errorf("storage: prune attendance: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
