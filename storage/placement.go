package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Placement says which node a room's media lives on.
type Placement struct {
	RoomID string
	// Node is the owner as registered, with Live computed against the
	// dead-after period the read was given.
	Node     Node
	PlacedAt time.Time
}

// placeQuery claims a room for the best live, non-draining node unless a live
// node already holds it. With $5 = 0 the asking node is best when it can
// take the room; with $5 = 1 the best node holds the fewest placements (which a
// claim changes at once, unlike the load in heartbeats), then has the fewest
// participants; on a tie the asking node wins (no redirect needed), then the
// lowest ID. A placement held by a dead node is taken over. One statement, so
// two nodes placing a room at once agree: the second one's conflict sees the
// first one's live owner and changes nothing. A missing room is a foreign key
// violation.
const placeQuery = `INSERT INTO placements (room_id, node_id, placed_at)
	SELECT CAST($1 AS TEXT), n.id, CAST($3 AS BIGINT) FROM nodes n
	WHERE n.heartbeat_at >= $4 AND NOT n.draining
	ORDER BY CASE WHEN n.id = $2 THEN CAST($5 AS INTEGER) ELSE 1 END,
		(SELECT COUNT(*) FROM placements c WHERE c.node_id = n.id), n.participants,
		CASE WHEN n.id = $2 THEN 0 ELSE 1 END, n.id
	LIMIT 1
	ON CONFLICT (room_id) DO UPDATE SET node_id = excluded.node_id, placed_at = excluded.placed_at
	WHERE NOT EXISTS (SELECT 1 FROM nodes o WHERE o.id = placements.node_id AND o.heartbeat_at >= $4)`

var placementQuery = `SELECT p.room_id, p.placed_at, ` + prefixed("n.", nodeColumns) + `
	FROM placements p JOIN nodes n ON n.id = p.node_id`

// PlaceRoom returns the node that room's media lives on: the live node that
// holds it, or else the best live node that is not draining (see placeQuery),
// preferring self, which claims it. A node is live when its heartbeat is no
// older than deadAfter. ErrNotFound if the room does not exist or no node can
// take it.
func (d *DB) PlaceRoom(ctx context.Context, roomID, self string, deadAfter time.Duration) (Placement, error) {
	return d.placeRoom(ctx, roomID, self, deadAfter, 1)
}

// PlaceRoomHere is PlaceRoom for a client that cannot follow redirects: a
// room that no live node holds goes to self when self is live and not
// draining, whatever the others' load.
func (d *DB) PlaceRoomHere(ctx context.Context, roomID, self string, deadAfter time.Duration) (Placement, error) {
	return d.placeRoom(ctx, roomID, self, deadAfter, 0)
}

func (d *DB) placeRoom(ctx context.Context, roomID, self string, deadAfter time.Duration, selfRank int) (Placement, error) {
	now := d.clock()
	cutoff := now.Add(-deadAfter)
	var p Placement
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, placeQuery, roomID, self, millis(now), millis(cutoff), selfRank); err != nil {
			return err
		}
		var err error
		p, err = scanPlacement(tx.QueryRowContext(ctx, placementQuery+` WHERE p.room_id = $1`, roomID), cutoff)
		return err
	})
	if isForeignKeyViolation(err) || errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Placement{}, fmt.Errorf("storage: place room %q: %w", roomID, err)
	}
	if !p.Node.Live {
		// Held by a dead node, and no live node could take it over.
		return Placement{}, fmt.Errorf("storage: place room %q: no live node: %w", roomID, ErrNotFound)
	}
	return p, nil
}

// RoomPlacement returns where room is placed, live owner or not, without
// claiming it; ErrNotFound if it is not placed.
func (d *DB) RoomPlacement(ctx context.Context, roomID string, deadAfter time.Duration) (Placement, error) {
	cutoff := d.clock().Add(-deadAfter)
	p, err := scanPlacement(d.reader.QueryRowContext(ctx, placementQuery+` WHERE p.room_id = $1`, roomID), cutoff)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Placement{}, fmt.Errorf("storage: placement of room %q: %w", roomID, err)
	}
	return p, nil
}

// NodePlacements returns the rooms placed on a node, in room order.
func (d *DB) NodePlacements(ctx context.Context, nodeID string, deadAfter time.Duration) ([]Placement, error) {
	cutoff := d.clock().Add(-deadAfter)
	rows, err := d.reader.QueryContext(ctx, placementQuery+` WHERE p.node_id = $1 ORDER BY p.room_id`, nodeID)
	if err != nil {
		return nil, fmt.Errorf("storage: placements of node %q: %w", nodeID, err)
	}
	defer rows.Close()
	var out []Placement
	for rows.Next() {
		p, err := scanPlacement(rows, cutoff)
		if err != nil {
			return nil, fmt.Errorf("storage: placements of node %q: %w", nodeID, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: placements of node %q: %w", nodeID, err)
	}
	return out, nil
}

// ReleaseRoom removes room's placement if nodeID holds it, so its next join
// places it afresh; ErrNotFound if nodeID does not hold it.
func (d *DB) ReleaseRoom(ctx context.Context, roomID, nodeID string) error {
	res, err := d.writer.ExecContext(ctx, `DELETE FROM placements WHERE room_id = $1 AND node_id = $2`, roomID, nodeID)
	if err == nil {
		err = rowsAffectedOrNotFound(res)
	}
	if err != nil {
		return fmt.Errorf("storage: release room %q from node %q: %w", roomID, nodeID, err)
	}
	return nil
}

func scanPlacement(r rowScanner, cutoff time.Time) (Placement, error) {
	var p Placement
	var placed, started, beat int64
	n := &p.Node
	if err := r.Scan(&p.RoomID, &placed, &n.ID, &n.URL, &n.RTSPURL, &n.Rooms, &n.Participants, &n.Draining, &started, &beat); err != nil {
		return Placement{}, err
	}
	p.PlacedAt = fromMillis(placed)
	n.StartedAt, n.HeartbeatAt = fromMillis(started), fromMillis(beat)
	n.Live = !n.HeartbeatAt.Before(cutoff)
	return p, nil
}

// prefixed qualifies each of the comma-separated columns with prefix.
func prefixed(prefix, columns string) string {
	parts := strings.Split(columns, ", ")
	for i, c := range parts {
		parts[i] = prefix + c
	}
	return strings.Join(parts, ", ")
}
