package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Node is one Lectern server in the registry that nodes sharing a database
// keep (see cluster). Each node writes its own row.
type Node struct {
	// ID names the node; it stays the same across restarts.
	ID string
	// URL is the node's advertised HTTP base URL, where clients are sent.
	URL string
	// RTSPURL is its advertised RTSP base URL (rtsp://host:port).
	RTSPURL string
	// Rooms and Participants are its load at the last heartbeat.
	Rooms, Participants int
	// Draining is set while the node shuts down: it takes no new rooms.
	Draining bool
	// StartedAt is when the row was created; HeartbeatAt when it was last written.
	StartedAt, HeartbeatAt time.Time
	// Live reports, on reads, whether the heartbeat is within the dead-after
	// period that the read was given.
	Live bool
}

const nodeColumns = `id, url, rtsp_url, rooms, participants, draining, started_at, heartbeat_at`

// Heartbeat writes n as the node's current state, creating its row the first
// time, and returns what was stored: HeartbeatAt is now, StartedAt the
// creation time. Draining is written as given.
func (d *DB) Heartbeat(ctx context.Context, n Node) (Node, error) {
	if n.ID == "" || n.URL == "" {
		return Node{}, errors.New("storage: heartbeat: node ID and URL are required")
	}
	now := d.clock()
	row := d.writer.QueryRowContext(ctx, `INSERT INTO nodes (`+nodeColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
		ON CONFLICT (id) DO UPDATE SET url = excluded.url, rtsp_url = excluded.rtsp_url, rooms = excluded.rooms,
			participants = excluded.participants, draining = excluded.draining, heartbeat_at = excluded.heartbeat_at
		RETURNING `+nodeColumns,
		n.ID, n.URL, n.RTSPURL, n.Rooms, n.Participants, n.Draining, millis(now))
	got, err := scanNode(row, now.Add(-time.Hour)) // just written: live
	if err != nil {
		return Node{}, fmt.Errorf("storage: heartbeat of node %q: %w", n.ID, err)
	}
	return got, nil
}

// Nodes returns every registered node in ID order; a node is Live when its
// heartbeat is no older than deadAfter.
func (d *DB) Nodes(ctx context.Context, deadAfter time.Duration) ([]Node, error) {
	cutoff := d.clock().Add(-deadAfter)
	rows, err := d.reader.QueryContext(ctx, `SELECT `+nodeColumns+` FROM nodes ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("storage: list nodes: %w", err)
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		n, err := scanNode(rows, cutoff)
		if err != nil {
			return nil, fmt.Errorf("storage: list nodes: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: list nodes: %w", err)
	}
	return out, nil
}

// Node returns one node; ErrNotFound if it is not registered.
func (d *DB) Node(ctx context.Context, id string, deadAfter time.Duration) (Node, error) {
	cutoff := d.clock().Add(-deadAfter)
	n, err := scanNode(d.reader.QueryRowContext(ctx, `SELECT `+nodeColumns+` FROM nodes WHERE id = $1`, id), cutoff)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Node{}, fmt.Errorf("storage: node %q: %w", id, err)
	}
	return n, nil
}

// DeleteNode removes a node and with it its placements, so its rooms are
// placed again at their next join; ErrNotFound if it is not registered.
func (d *DB) DeleteNode(ctx context.Context, id string) error {
	res, err := d.writer.ExecContext(ctx, `DELETE FROM nodes WHERE id = $1`, id)
	if err == nil {
		err = rowsAffectedOrNotFound(res)
	}
	if err != nil {
		return fmt.Errorf("storage: delete node %q: %w", id, err)
	}
	return nil
}

// PruneNodes removes the nodes (and their placements) whose last heartbeat is
// older than olderThan, and returns how many it removed.
func (d *DB) PruneNodes(ctx context.Context, olderThan time.Duration) (int, error) {
	res, err := d.writer.ExecContext(ctx, `DELETE FROM nodes WHERE heartbeat_at < $1`, millis(d.clock().Add(-olderThan)))
	if err != nil {
		return 0, fmt.Errorf("storage: prune nodes: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func scanNode(r rowScanner, cutoff time.Time) (Node, error) {
	var n Node
	var started, beat int64
	if err := r.Scan(&n.ID, &n.URL, &n.RTSPURL, &n.Rooms, &n.Participants, &n.Draining, &started, &beat); err != nil {
		return Node{}, err
	}
	n.StartedAt, n.HeartbeatAt = fromMillis(started), fromMillis(beat)
	n.Live = !n.HeartbeatAt.Before(cutoff)
	return n, nil
}
