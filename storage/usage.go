package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// UsageDelta is what one node counted for an app in a month since its last
// flush: milliseconds to add, and the highest concurrent counts it saw.
type UsageDelta struct {
	App, Month, Node string
	ParticipantMS    int64
	ViewerMS         int64
	PeakParticipants int
	PeakViewers      int
	PeakConcurrent   int
}

// UsageIdentity is an identity that connected in an app in a month.
type UsageIdentity struct{ App, Month, Identity string }

// UsageBatch is one flush of the usage and attendance accounting: written
// in one transaction, and every row is an upsert, so a batch that failed can
// be written again.
type UsageBatch struct {
	Deltas     []UsageDelta
	Identities []UsageIdentity
	Sessions   []AttendanceSession
	Entries    []AttendanceEntry
}

// UsageMonth is an app's usage in one month, summed over the nodes.
type UsageMonth struct {
	ActiveIdentities int64
	ParticipantMS    int64
	ViewerMS         int64
	// The peaks are each node's highest count, summed over the nodes.
	PeakParticipants int64
	PeakViewers      int64
	PeakConcurrent   int64
	Nodes            int
}

// RecordingUsage sums recordings: those that ended in a period (Count,
// Duration, Bytes) and every recording still stored (StoredBytes).
type RecordingUsage struct {
	Count       int64
	Duration    time.Duration
	Bytes       int64
	StoredBytes int64
}

// greatest is the SQL function of the larger of two values.
func (d dialect) greatest() string {
	if d == postgresDialect {
		return "GREATEST"
	}
	return "MAX"
}

// SaveUsage writes a batch in one transaction. A session whose room is gone
// (deleted while it ran) is skipped, and so are its entries.
func (d *DB) SaveUsage(ctx context.Context, b UsageBatch) error {
	now := millis(d.clock())
	g := d.dialect.greatest()
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		for _, u := range b.Deltas {
			_, err := tx.ExecContext(ctx, `INSERT INTO usage_months
				(app_id, month, node, participant_ms, viewer_ms, peak_participants, peak_viewers, peak_concurrent, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
				ON CONFLICT (app_id, month, node) DO UPDATE SET
				participant_ms = usage_months.participant_ms + excluded.participant_ms,
				viewer_ms = usage_months.viewer_ms + excluded.viewer_ms,
				peak_participants = `+g+`(usage_months.peak_participants, excluded.peak_participants),
				peak_viewers = `+g+`(usage_months.peak_viewers, excluded.peak_viewers),
				peak_concurrent = `+g+`(usage_months.peak_concurrent, excluded.peak_concurrent),
				updated_at = excluded.updated_at`,
				u.App, u.Month, u.Node, u.ParticipantMS, u.ViewerMS, u.PeakParticipants, u.PeakViewers, u.PeakConcurrent, now)
			if err != nil {
				return err
			}
		}
		for _, id := range b.Identities {
			if _, err := tx.ExecContext(ctx, `INSERT INTO usage_identities (app_id, month, identity) VALUES ($1, $2, $3)
				ON CONFLICT (app_id, month, identity) DO NOTHING`, id.App, id.Month, id.Identity); err != nil {
				return err
			}
		}
		for _, s := range b.Sessions {
			if err := upsertSession(ctx, tx, s, now); err != nil {
				return err
			}
		}
		for _, e := range b.Entries {
			if err := upsertEntry(ctx, tx, e, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: save usage: %w", err)
	}
	return nil
}

// Usage returns app's usage in month ('YYYY-MM') as every node counted it.
func (d *DB) Usage(ctx context.Context, app, month string) (UsageMonth, error) {
	var u UsageMonth
	var pruned int64
	err := d.reader.QueryRowContext(ctx, `SELECT COALESCE(SUM(participant_ms), 0), COALESCE(SUM(viewer_ms), 0),
		COALESCE(SUM(peak_participants), 0), COALESCE(SUM(peak_viewers), 0), COALESCE(SUM(peak_concurrent), 0),
		COALESCE(SUM(identities_pruned), 0), COUNT(*)
		FROM usage_months WHERE app_id = $1 AND month = $2 AND node <> ''`, app, month).Scan(
		&u.ParticipantMS, &u.ViewerMS, &u.PeakParticipants, &u.PeakViewers, &u.PeakConcurrent, &pruned, &u.Nodes)
	if err != nil {
		return u, fmt.Errorf("storage: usage %s %s: %w", app, month, err)
	}
	err = d.reader.QueryRowContext(ctx, `SELECT COALESCE((SELECT SUM(identities_pruned) FROM usage_months WHERE app_id = $1 AND month = $2 AND node = ''), 0)
		+ (SELECT COUNT(*) FROM usage_identities WHERE app_id = $1 AND month = $2)`, app, month).Scan(&u.ActiveIdentities)
	if err != nil {
		return u, fmt.Errorf("storage: usage identities %s %s: %w", app, month, err)
	}
	return u, nil
}

// RecordingUsage sums the recordings of rooms (nil: every room) that
// completed with an end in [from, to), and the bytes of every recording
// still stored.
func (d *DB) RecordingUsage(ctx context.Context, rooms func(string) bool, from, to time.Time) (RecordingUsage, error) {
	var u RecordingUsage
	rows, err := d.reader.QueryContext(ctx, `SELECT room_id, status, COALESCE(ended_at, 0), duration_ms, size_bytes FROM recordings`)
	if err != nil {
		return u, fmt.Errorf("storage: recording usage: %w", err)
	}
	defer rows.Close()
	f, t := millis(from), millis(to)
	for rows.Next() {
		var room, status string
		var ended, dur, size int64
		if err := rows.Scan(&room, &status, &ended, &dur, &size); err != nil {
			return u, fmt.Errorf("storage: recording usage: %w", err)
		}
		if rooms != nil && !rooms(room) {
			continue
		}
		u.StoredBytes += size
		if status == RecordingComplete && ended >= f && ended < t {
			u.Count++
			u.Duration += time.Duration(dur) * time.Millisecond
			u.Bytes += size
		}
	}
	if err := rows.Err(); err != nil {
		return u, fmt.Errorf("storage: recording usage: %w", err)
	}
	return u, nil
}

// PruneUsageIdentities folds the identity rows of months before month
// ('YYYY-MM') into a count per app and month, kept in usage_months, and
// deletes them: the figure stays, the identities go.
func (d *DB) PruneUsageIdentities(ctx context.Context, before string) (int64, error) {
	now := millis(d.clock())
	var n int64
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO usage_months (app_id, month, node, identities_pruned, updated_at)
			SELECT app_id, month, '', COUNT(*), $2 FROM usage_identities WHERE month < $1 GROUP BY app_id, month
			ON CONFLICT (app_id, month, node) DO UPDATE SET
			identities_pruned = usage_months.identities_pruned + excluded.identities_pruned, updated_at = excluded.updated_at`, before, now)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM usage_identities WHERE month < $1`, before)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("storage: prune usage identities: %w", err)
	}
	return n, nil
}
