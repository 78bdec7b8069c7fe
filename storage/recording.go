package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Recording states, in the order a recording goes through them.
const (
	// RecordingActive: the broadcast is being written (the spool grows).
	RecordingActive = "recording"
	// RecordingUploading: the recording is finished locally and its files
	// are still being uploaded to the object store.
	RecordingUploading = "uploading"
	// RecordingComplete: every file, the playlist last, is in the object store.
	RecordingComplete = "complete"
	// RecordingFailed: the recording cannot be completed (its spool was lost
	// or could not be written).
	RecordingFailed = "failed"
)

// Recording is a recording's metadata. The media are in the object store
// under Location; the rows outlive their room.
type Recording struct {
	ID     string
	RoomID string
	Status string
	// StartedAt is when the first segment began; EndedAt is zero while the
	// recording is being written.
	StartedAt time.Time
	EndedAt   time.Time
	// Duration is the media's length and SizeBytes their total size, both
	// as written so far.
	Duration  time.Duration
	SizeBytes int64
	// Location names where the files are (an object store URL of the
	// recording's prefix), set by the recorder.
	Location  string
	CreatedAt time.Time
	// Node is the node writing the recording ('' without a cluster); Part
	// counts the times another node took it over after its node died
	// (TakeOverRecording). Only CreateRecording and TakeOverRecording write them.
	Node string
	Part int
}

const recordingColumns = `id, room_id, status, started_at, ended_at, duration_ms, size_bytes, location, created_at, node, part`

func scanRecording(s rowScanner) (Recording, error) {
	var r Recording
	var started, created, durationMS int64
	var ended sql.NullInt64
	err := s.Scan(&r.ID, &r.RoomID, &r.Status, &started, &ended, &durationMS, &r.SizeBytes, &r.Location, &created, &r.Node, &r.Part)
	r.StartedAt, r.CreatedAt = fromMillis(started), fromMillis(created)
	if ended.Valid {
		r.EndedAt = fromMillis(ended.Int64)
	}
	r.Duration = time.Duration(durationMS) * time.Millisecond
	return r, err
}

// nullMillis stores a zero time as NULL.
func nullMillis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: millis(t), Valid: true}
}

// CreateRecording stores a new recording, setting its CreatedAt to now, and
// returns it as stored. It returns ErrConflict if one with r.ID exists.
func (d *DB) CreateRecording(ctx context.Context, r Recording) (Recording, error) {
	r.CreatedAt = d.clock()
	r.StartedAt = r.StartedAt.UTC().Truncate(time.Millisecond)
	if !r.EndedAt.IsZero() {
		r.EndedAt = r.EndedAt.UTC().Truncate(time.Millisecond)
	}
	r.Duration = r.Duration.Truncate(time.Millisecond)
	_, err := d.writer.ExecContext(ctx, `INSERT INTO recordings (`+recordingColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		r.ID, r.RoomID, r.Status, millis(r.StartedAt), nullMillis(r.EndedAt), r.Duration.Milliseconds(),
		r.SizeBytes, r.Location, millis(r.CreatedAt), r.Node, r.Part)
	if isUniqueViolation(err) {
		err = ErrConflict
	}
	if err != nil {
		return Recording{}, fmt.Errorf("storage: create recording %q: %w", r.ID, err)
	}
	d.recordingChanged(r, true)
	return r, nil
}

// Recording returns the recording with the given id, or ErrNotFound.
func (d *DB) Recording(ctx context.Context, id string) (Recording, error) {
	r, err := scanRecording(d.reader.QueryRowContext(ctx, `SELECT `+recordingColumns+` FROM recordings WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Recording{}, fmt.Errorf("storage: recording %q: %w", id, err)
	}
	return r, nil
}

// Recordings returns a room's recordings, newest first (ties broken by id,
// descending). The room need not exist any more. It returns an empty slice,
// not nil, when there are none.
func (d *DB) Recordings(ctx context.Context, roomID string) ([]Recording, error) {
	return d.queryRecordings(ctx, `SELECT `+recordingColumns+` FROM recordings WHERE room_id = $1
		ORDER BY started_at DESC, id DESC`, roomID)
}

func (d *DB) queryRecordings(ctx context.Context, query string, args ...any) ([]Recording, error) {
	rows, err := d.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: recordings: %w", err)
	}
	defer rows.Close()
	out := []Recording{}
	for rows.Next() {
		r, err := scanRecording(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: recordings: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: recordings: %w", err)
	}
	return out, nil
}

// UpdateRecording writes r's Status, EndedAt, Duration, SizeBytes and
// Location to the recording with r.ID and returns it as stored. It returns
// ErrNotFound if there is no such recording (it was deleted meanwhile), and
// ErrConflict if another node than r.Node writes it now (it took the
// recording over: TakeOverRecording), changing nothing.
func (d *DB) UpdateRecording(ctx context.Context, r Recording) (Recording, error) {
	row := d.writer.QueryRowContext(ctx, `UPDATE recordings SET
			status = $2, ended_at = $3, duration_ms = $4, size_bytes = $5, location = $6
		WHERE id = $1 AND node = $7
		RETURNING `+recordingColumns,
		r.ID, r.Status, nullMillis(r.EndedAt), r.Duration.Milliseconds(), r.SizeBytes, r.Location, r.Node)
	stored, err := scanRecording(row)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
		if cur, cerr := d.Recording(ctx, r.ID); cerr == nil && cur.Node != r.Node {
			err = ErrConflict
		}
	}
	if err != nil {
		return Recording{}, fmt.Errorf("storage: update recording %q: %w", r.ID, err)
	}
	d.recordingChanged(stored, false)
	return stored, nil
}

// OrphanRecordings returns the recordings not finished (recording or
// uploading) whose node is dead (its heartbeat is older than deadAfter, or
// it is not registered any more) or is self (the caller tells whether it
// still has them in hand). Recordings without a node (written without a
// cluster) are never orphans. Oldest first.
func (d *DB) OrphanRecordings(ctx context.Context, self string, deadAfter time.Duration) ([]Recording, error) {
	return d.queryRecordings(ctx, `SELECT `+recordingColumns+` FROM recordings r
		WHERE r.status IN ('`+RecordingActive+`', '`+RecordingUploading+`') AND r.node <> ''
			AND (r.node = $1 OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = r.node AND n.heartbeat_at >= $2))
		ORDER BY r.started_at, r.id`, self, millis(d.clock().Add(-deadAfter)))
}

// TakeOverRecording makes node the writer of recording r.ID, and its part
// r.Part+1, if r.Node still writes part r.Part (compare-and-set: of nodes
// taking over one recording at once, one wins). It returns the recording as
// stored, or ErrConflict if it changed meanwhile (ErrNotFound if it was
// deleted).
func (d *DB) TakeOverRecording(ctx context.Context, r Recording, node string) (Recording, error) {
	row := d.writer.QueryRowContext(ctx, `UPDATE recordings SET node = $2, part = part + 1
		WHERE id = $1 AND node = $3 AND part = $4
		RETURNING `+recordingColumns, r.ID, node, r.Node, r.Part)
	stored, err := scanRecording(row)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrConflict
		if _, cerr := d.Recording(ctx, r.ID); errors.Is(cerr, ErrNotFound) {
			err = ErrNotFound
		}
	}
	if err != nil {
		return Recording{}, fmt.Errorf("storage: take over recording %q: %w", r.ID, err)
	}
	return stored, nil
}

// DeleteRecording deletes the recording's row. It returns ErrNotFound if
// there is no such recording.
func (d *DB) DeleteRecording(ctx context.Context, id string) error {
	res, err := d.writer.ExecContext(ctx, `DELETE FROM recordings WHERE id = $1`, id)
	if err == nil {
		err = rowsAffectedOrNotFound(res)
	}
	if err != nil {
		return fmt.Errorf("storage: delete recording %q: %w", id, err)
	}
	return nil
}
