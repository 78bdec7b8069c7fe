package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// WebhookEvent is one event in the webhook outbox: its body is sent as it
// was stored, on every attempt, so that a receiver sees one event ID carry
// one body.
type WebhookEvent struct {
	// Seq orders the outbox; a room's events are delivered in Seq order.
	Seq      int64
	ID       string
	Type     string
	RoomID   string
	Body     []byte
	Attempts int
	// CreatedAt is when the event was stored; NextAt when it may be tried
	// (again).
	CreatedAt time.Time
	NextAt    time.Time
	LastError string
}

// EnqueueWebhooks appends events to the outbox in order, as long as it holds
// fewer than limit events, and returns how many of them (a prefix) it
// stored; the rest did not fit. An event whose ID is already in the outbox
// counts as stored and is not added again. With several nodes on one
// database the limit is kept approximately (each checks the count in its own
// transaction).
func (d *DB) EnqueueWebhooks(ctx context.Context, events []WebhookEvent, limit int) (int, error) {
	now := millis(d.clock())
	stored := 0
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		stored = 0
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_outbox`).Scan(&n); err != nil {
			return err
		}
		for _, ev := range events {
			if n >= limit {
				return nil
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO webhook_outbox
				(event_id, event_type, room_id, body, created_at, next_at) VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (event_id) DO NOTHING`, ev.ID, ev.Type, ev.RoomID, ev.Body, now, now)
			if err != nil {
				return err
			}
			if added, _ := res.RowsAffected(); added > 0 {
				n++
			}
			stored++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("storage: enqueue webhooks: %w", err)
	}
	return stored, nil
}

const webhookColumns = `seq, event_id, event_type, room_id, body, attempts, created_at, next_at, last_error`

func scanWebhook(s rowScanner) (WebhookEvent, error) {
	var ev WebhookEvent
	var created, next int64
	err := s.Scan(&ev.Seq, &ev.ID, &ev.Type, &ev.RoomID, &ev.Body, &ev.Attempts, &created, &next, &ev.LastError)
	ev.CreatedAt, ev.NextAt = fromMillis(created), fromMillis(next)
	return ev, err
}

// ClaimWebhooks leases up to limit events that are due to node for lease,
// oldest first: of each room only its oldest event, and only when no other
// node holds it, so that a room's events go out one at a time and in order.
// On PostgreSQL, nodes claiming at once skip each other's rows (FOR UPDATE
// SKIP LOCKED); on SQLite the single writer serializes claims.
func (d *DB) ClaimWebhooks(ctx context.Context, node string, limit int, lease time.Duration) ([]WebhookEvent, error) {
	now := d.clock()
	var out []WebhookEvent
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		// rooms walks the (room_id, seq) index from one room to the next
		// (a skip scan) and each room's head is one more lookup in it, so a
		// long backlog behind the heads costs nothing.
		rows, err := tx.QueryContext(ctx, `WITH RECURSIVE rooms (room_id) AS (
				SELECT MIN(room_id) FROM webhook_outbox
				UNION ALL
				SELECT (SELECT MIN(w.room_id) FROM webhook_outbox w WHERE w.room_id > rooms.room_id)
				FROM rooms WHERE rooms.room_id IS NOT NULL
			)
			SELECT `+webhookColumns+` FROM webhook_outbox o
			WHERE o.seq IN (SELECT (SELECT MIN(w.seq) FROM webhook_outbox w WHERE w.room_id = rooms.room_id)
				FROM rooms WHERE rooms.room_id IS NOT NULL)
			AND o.next_at <= $1 AND o.claimed_until <= $1
			ORDER BY o.seq LIMIT $2`+d.dialect.skipLocked(), millis(now), limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			ev, err := scanWebhook(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, ev)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil || len(out) == 0 {
			return err
		}
		seqs := make([]string, len(out))
		for i, ev := range out {
			seqs[i] = fmt.Sprint(ev.Seq)
		}
		// The seqs are integers from the database, not outside input.
		_, err = tx.ExecContext(ctx, `UPDATE webhook_outbox SET claimed_until = $1, claimed_by = $2
			WHERE seq IN (`+strings.Join(seqs, ",")+`)`, millis(now.Add(lease)), node)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: claim webhooks: %w", err)
	}
	return out, nil
}

// DeleteWebhook removes an event from the outbox: it was delivered, or it is
// given up.
func (d *DB) DeleteWebhook(ctx context.Context, seq int64) error {
	if _, err := d.writer.ExecContext(ctx, `DELETE FROM webhook_outbox WHERE seq = $1`, seq); err != nil {
		return fmt.Errorf("storage: delete webhook %d: %w", seq, err)
	}
	return nil
}

// RetryWebhook releases a claimed event to be tried again at nextAt, with
// its attempt count and last error as given.
func (d *DB) RetryWebhook(ctx context.Context, seq int64, attempts int, nextAt time.Time, lastError string) error {
	_, err := d.writer.ExecContext(ctx, `UPDATE webhook_outbox
		SET attempts = $2, next_at = $3, last_error = $4, claimed_until = 0, claimed_by = ''
		WHERE seq = $1`, seq, attempts, millis(nextAt), lastError)
	if err != nil {
		return fmt.Errorf("storage: retry webhook %d: %w", seq, err)
	}
	return nil
}

// WebhookBacklog returns how many events the outbox holds.
func (d *DB) WebhookBacklog(ctx context.Context) (int, error) {
	var n int
	if err := d.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_outbox`).Scan(&n); err != nil {
		return 0, fmt.Errorf("storage: webhook backlog: %w", err)
	}
	return n, nil
}

// WaitingWebhooks returns up to limit events of the outbox, oldest first, for
// people to see what is waiting and why (the console).
func (d *DB) WaitingWebhooks(ctx context.Context, limit int) ([]WebhookEvent, error) {
	rows, err := d.reader.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhook_outbox ORDER BY seq LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("storage: waiting webhooks: %w", err)
	}
	defer rows.Close()
	var out []WebhookEvent
	for rows.Next() {
		ev, err := scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: waiting webhooks: %w", err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: waiting webhooks: %w", err)
	}
	return out, nil
}

// RetryWebhooksNow makes every event waiting for a retry due now (a
// receiver is back up) and returns how many.
func (d *DB) RetryWebhooksNow(ctx context.Context) (int, error) {
	now := millis(d.clock())
	res, err := d.writer.ExecContext(ctx, `UPDATE webhook_outbox SET next_at = $1 WHERE next_at > $1`, now)
	if err != nil {
		return 0, fmt.Errorf("storage: retry webhooks now: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
