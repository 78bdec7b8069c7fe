package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// chatChannel is the PostgreSQL NOTIFY channel of chat changes. A payload is
// "<room id> <seq>": the room's newest seq in the notifying transaction.
// Room ids hold no spaces.
const chatChannel = "lectern_chat"

// memberChannel is the NOTIFY channel of changes to who may do what in a
// room. A payload is "<room id> <identity>" when a member changed, or
// "<room id>" when the room was deleted. Identities hold no spaces either.
const memberChannel = "lectern_members"

// Notification announces that a room's chat, one of its members, or the room
// itself changed in some process.
type Notification struct {
	// Room changed, up to Seq. Changes with lower seqs in the room are
	// committed too.
	Room string
	Seq  int64
	// Member, when set, is the identity of the room's member that changed
	// (Seq is 0): read it again. Deleted says the room was deleted.
	Member  string
	Deleted bool
	// Resync, set on the first call after every (re)connection, says that
	// announcements may have been missed: every room may have changed.
	Resync bool
}

// CanNotify reports whether the backend announces changes to other
// processes (PostgreSQL). SQLite serves one process, which knows its own
// writes.
func (d *DB) CanNotify() bool { return d.pool != nil }

// notifyRooms announces, inside the writing transaction, each room's newest
// seq. PostgreSQL delivers the announcements when, and only if, the
// transaction commits, in commit order.
func (d *DB) notifyRooms(ctx context.Context, tx *sql.Tx, rooms map[string]int64) error {
	if d.dialect != postgresDialect {
		return nil
	}
	for room, seq := range rooms {
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, chatChannel, room+" "+strconv.FormatInt(seq, 10)); err != nil {
			return err
		}
	}
	return nil
}

// announce tells every process, inside the writing transaction, that a member
// changed ("<room> <identity>") or a room was deleted ("<room>"): see
// memberChannel. Nothing is sent on SQLite, whose one process knows.
func (d *DB) announce(ctx context.Context, tx *sql.Tx, payload string) error {
	if d.dialect != postgresDialect {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, memberChannel, payload)
	return err
}

// ListenChat calls fn with every chat change, member change and room deletion
// (Notification) committed by any process sharing
// the PostgreSQL database, this one included, in commit order, until ctx ends
// (then it returns nil) or the connection fails (then it returns the error;
// the caller decides when to listen again). It listens on one connection
// taken out of the pool for good. The first call to fn has Resync set, once
// LISTEN is in effect. fn runs on the listening goroutine and should not block.
func (d *DB) ListenChat(ctx context.Context, fn func(Notification)) error {
	if d.pool == nil {
		return ErrNotSupported
	}
	pc, err := d.pool.Acquire(ctx)
	if err != nil {
		return listenError(ctx, err)
	}
	// The connection leaves the pool: it will be in LISTEN mode, and the pool
	// may open another in its place.
	conn := pc.Hijack()
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	for _, channel := range []string{chatChannel, memberChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
			return listenError(ctx, err)
		}
	}
	fn(Notification{Resync: true})
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return listenError(ctx, err)
		}
		if n.Channel == memberChannel {
			switch room, identity, ok := strings.Cut(n.Payload, " "); {
			case !ok && room != "":
				fn(Notification{Room: room, Deleted: true})
			case ok && room != "" && identity != "":
				fn(Notification{Room: room, Member: identity})
			}
			continue
		}
		if n.Channel != chatChannel {
			continue
		}
		room, seqText, ok := strings.Cut(n.Payload, " ")
		seq, err := strconv.ParseInt(seqText, 10, 64)
		if !ok || err != nil || room == "" {
			continue // not ours
		}
		fn(Notification{Room: room, Seq: seq})
	}
}

// listenError is nil when ctx ended, which is how listening is meant to stop.
func listenError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("storage: listen for chat changes: %w", err)
}
