package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Message kinds and question states, as stored.
const (
	// KindMessage is a chat message to the room or to one member.
	KindMessage = "message"
	// KindQuestion is a webinar audience question; its State is one of the
	// states below.
	KindQuestion = "question"

	// StatePending is a question only speakers, moderators and its asker see.
	StatePending = "pending"
	// StateApproved is a question a moderator let everyone see.
	StateApproved = "approved"
	// StateAnswered is a question a moderator marked answered (and so shown).
	StateAnswered = "answered"
)

// Message is a stored chat message in its current state.
type Message struct {
	// ID names the message; it never changes and is never reused.
	ID int64
	// Seq is the position of the message's latest change in the room's
	// change stream: its ID when created, a new value at every deletion or
	// state change. A room's seqs commit in increasing order.
	Seq        int64
	RoomID     string
	Sender     string
	SenderName string
	// Recipient is the identity of a direct message's addressee, "" for the room.
	Recipient string
	Kind      string
	State     string
	// Text is "" once the message is deleted.
	Text      string
	CreatedAt time.Time
	// DeletedAt is zero while the message is not deleted.
	DeletedAt time.Time
}

// Deleted reports whether m is a tombstone.
func (m Message) Deleted() bool { return !m.DeletedAt.IsZero() }

// NewMessage is a message to store. CreatedAt is kept to the millisecond.
type NewMessage struct {
	RoomID     string
	Sender     string
	SenderName string
	Recipient  string
	Kind       string
	State      string
	Text       string
	CreatedAt  time.Time
}

// MessageFilter says which of a room's messages a reader may see.
type MessageFilter struct {
	// All sees every message, direct ones included (an operator).
	All bool
	// Identity sees the direct messages it sent or received and the
	// questions it asked.
	Identity string
	// Pending sees every pending question of the room (speakers, moderators).
	Pending bool
}

// filterSQL is the condition of MessageFilter on the messages table, with
// its three values bound as $a, $i and $p (All, Identity, Pending). It must
// say what chat.Visible says.
func filterSQL(a, i, p int) string {
	n := func(k int) string { return "$" + strconv.Itoa(k) }
	return `(` + n(a) + ` OR ((recipient = '' OR sender = ` + n(i) + ` OR recipient = ` + n(i) + `)
		AND (state <> '` + StatePending + `' OR sender = ` + n(i) + ` OR ` + n(p) + `)))`
}

const messageColumns = `id, seq, room_id, sender, sender_name, recipient, kind, state, text, created_at, deleted_at`

func scanMessage(s rowScanner) (Message, error) {
	var m Message
	var created int64
	var deleted sql.NullInt64
	err := s.Scan(&m.ID, &m.Seq, &m.RoomID, &m.Sender, &m.SenderName, &m.Recipient, &m.Kind, &m.State, &m.Text,
		&created, &deleted)
	m.CreatedAt = fromMillis(created)
	if deleted.Valid {
		m.DeletedAt = fromMillis(deleted.Int64)
	}
	return m, err
}

func (d *DB) queryMessages(ctx context.Context, query string, args ...any) ([]Message, error) {
	rows, err := d.read(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Message{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Message returns one message of a room, or ErrNotFound.
func (d *DB) Message(ctx context.Context, roomID string, id int64) (Message, error) {
	m, err := scanMessage(d.reader.QueryRowContext(ctx,
		`SELECT `+messageColumns+` FROM messages WHERE room_id = $1 AND id = $2`, roomID, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Message{}, fmt.Errorf("storage: message %d in room %q: %w", id, roomID, err)
	}
	return m, nil
}

// History returns up to limit messages of a room that f may see with an id
// below before (0: no bound), the newest ones, oldest first. Deleted messages
// are included as tombstones.
func (d *DB) History(ctx context.Context, roomID string, f MessageFilter, before int64, limit int) ([]Message, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	ms, err := d.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE room_id = $1 AND id < $2 AND `+filterSQL(3, 4, 5)+`
		ORDER BY id DESC LIMIT $6`, roomID, before, f.All, f.Identity, f.Pending, limit)
	if err != nil {
		return nil, fmt.Errorf("storage: history of room %q: %w", roomID, err)
	}
	slices.Reverse(ms)
	return ms, nil
}

// Recent returns up to limit of the newest messages of a room that f may see
// and whose latest change is at most upto, oldest first.
func (d *DB) Recent(ctx context.Context, roomID string, f MessageFilter, upto int64, limit int) ([]Message, error) {
	ms, err := d.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE room_id = $1 AND seq <= $2 AND `+filterSQL(3, 4, 5)+`
		ORDER BY id DESC LIMIT $6`, roomID, upto, f.All, f.Identity, f.Pending, limit)
	if err != nil {
		return nil, fmt.Errorf("storage: recent messages of room %q: %w", roomID, err)
	}
	slices.Reverse(ms)
	return ms, nil
}

// Changes returns up to limit messages of a room that f may see whose latest
// change has a seq in (after, upto], in seq order.
func (d *DB) Changes(ctx context.Context, roomID string, f MessageFilter, after, upto int64, limit int) ([]Message, error) {
	ms, err := d.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE room_id = $1 AND seq > $2 AND seq <= $3 AND `+filterSQL(4, 5, 6)+`
		ORDER BY seq LIMIT $7`, roomID, after, upto, f.All, f.Identity, f.Pending, limit)
	if err != nil {
		return nil, fmt.Errorf("storage: chat changes of room %q: %w", roomID, err)
	}
	return ms, nil
}

// LastSeq returns the highest committed seq of a room's messages, 0 if it has none.
func (d *DB) LastSeq(ctx context.Context, roomID string) (int64, error) {
	var seq int64
	err := d.readRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM messages WHERE room_id = $1`, roomID).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("storage: last chat seq of room %q: %w", roomID, err)
	}
	return seq, nil
}

// InsertMessages stores messages in one transaction and returns them with
// their ids, in the order given. Each takes the next value of the change
// sequence as its id and seq. On PostgreSQL the transaction first locks each
// room it writes to, so a room's seqs commit in order across processes, and
// announces each room's newest seq with NOTIFY (see ListenChat) as it commits.
// It returns ErrNotFound if a room does not exist.
func (d *DB) InsertMessages(ctx context.Context, ms []NewMessage) ([]Message, error) {
	out := make([]Message, len(ms))
	reserve := d.reserveStmt(ctx)
	var inserts []writeStmt
	for start := 0; start < len(ms); start += insertChunk {
		inserts = append(inserts, d.writeStmt(ctx, insertSQL(min(insertChunk, len(ms)-start))))
	}
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		rooms := map[string]int64{}
		for _, m := range ms {
			rooms[m.RoomID] = 0
		}
		if err := d.lockRooms(ctx, tx, rooms); err != nil {
			return err
		}
		seqs, err := d.reserveSeqs(ctx, tx, reserve, len(ms))
		if err != nil {
			return err
		}
		for i, ins := range inserts {
			start := i * insertChunk
			end := min(start+insertChunk, len(ms))
			if err := insertRows(ctx, tx, ins, ms[start:end], seqs[start:end], out[start:end]); err != nil {
				return err
			}
		}
		for _, m := range out {
			rooms[m.RoomID] = m.Seq
		}
		return d.notifyRooms(ctx, tx, rooms)
	})
	if isForeignKeyViolation(err) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: insert %d chat messages: %w", len(ms), err)
	}
	return out, nil
}

// insertChunk bounds the rows of one INSERT statement, and so the distinct
// statements prepared for it.
const insertChunk = 32

// insertSQL is the statement inserting n messages, 9 values each.
func insertSQL(n int) string {
	var q strings.Builder
	q.WriteString(`INSERT INTO messages (id, seq, room_id, sender, sender_name, recipient, kind, state, text, created_at) VALUES `)
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		k := i * 9
		fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)", k+1, k+1, k+2, k+3, k+4, k+5, k+6, k+7, k+8, k+9)
	}
	return q.String()
}

// insertRows stores ms with the given seqs (as ids too) with ins, an
// insertSQL(len(ms)), and writes the stored messages to out.
func insertRows(ctx context.Context, tx *sql.Tx, ins writeStmt, ms []NewMessage, seqs []int64, out []Message) error {
	args := make([]any, 0, 9*len(ms))
	for i, m := range ms {
		created := m.CreatedAt.UTC().Truncate(time.Millisecond)
		args = append(args, seqs[i], m.RoomID, m.Sender, m.SenderName, m.Recipient, m.Kind, m.State, m.Text, millis(created))
		out[i] = Message{ID: seqs[i], Seq: seqs[i], RoomID: m.RoomID, Sender: m.Sender, SenderName: m.SenderName,
			Recipient: m.Recipient, Kind: m.Kind, State: m.State, Text: m.Text, CreatedAt: created}
	}
	_, err := ins.exec(ctx, tx, args...)
	return err
}

// reserveStmt is the statement reserveSeqs runs.
func (d *DB) reserveStmt(ctx context.Context) writeStmt {
	if d.dialect == postgresDialect {
		return writeStmt{query: `SELECT nextval('messages_id_seq') AS v FROM generate_series(1, $1) ORDER BY v`}
	}
	return d.writeStmt(ctx, `UPDATE chat_seq SET value = value + $1 WHERE id = 1 RETURNING value`)
}

// reserveSeqs draws n increasing values of the change sequence with
// reserve, a reserveStmt.
func (d *DB) reserveSeqs(ctx context.Context, tx *sql.Tx, reserve writeStmt, n int) ([]int64, error) {
	seqs := make([]int64, 0, n)
	if d.dialect == postgresDialect {
		rows, err := tx.QueryContext(ctx, reserve.query, n)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var v int64
			if err := rows.Scan(&v); err != nil {
				return nil, err
			}
			seqs = append(seqs, v)
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if len(seqs) != n {
			return nil, fmt.Errorf("drew %d seqs, want %d", len(seqs), n)
		}
		return seqs, nil
	}
	var last int64
	if err := reserve.queryRow(ctx, tx, n).Scan(&last); err != nil {
		return nil, err
	}
	for v := last - int64(n) + 1; v <= last; v++ {
		seqs = append(seqs, v)
	}
	return seqs, nil
}

// DeleteMessage turns a message into a tombstone deleted at at: its text is
// erased and it takes a new seq. It returns ErrNotFound if there is no such
// message and ErrWrongState if it is already deleted.
func (d *DB) DeleteMessage(ctx context.Context, roomID string, id int64, at time.Time) (Message, error) {
	m, err := d.changeMessage(ctx, roomID, id, `text = '', deleted_at = $4`, `deleted_at IS NULL`,
		millis(at.UTC().Truncate(time.Millisecond)))
	if err != nil {
		return Message{}, fmt.Errorf("storage: delete message %d in room %q: %w", id, roomID, err)
	}
	return m, nil
}

// SetQuestionState moves a question that is in one of the states from to the
// state to, giving it a new seq. It returns ErrNotFound if there is no such
// message and ErrWrongState if it is not a question in one of those states (or
// is deleted).
func (d *DB) SetQuestionState(ctx context.Context, roomID string, id int64, from []string, to string) (Message, error) {
	cond := `deleted_at IS NULL AND kind = '` + KindQuestion + `' AND state IN (`
	args := []any{to}
	for i, s := range from {
		if i > 0 {
			cond += ", "
		}
		cond += "$" + strconv.Itoa(5+i)
		args = append(args, s)
	}
	cond += ")"
	m, err := d.changeMessage(ctx, roomID, id, `state = $4`, cond, args...)
	if err != nil {
		return Message{}, fmt.Errorf("storage: set state of question %d in room %q: %w", id, roomID, err)
	}
	return m, nil
}

// changeMessage applies set (whose values are $4...) to a message for which
// cond holds, with a new seq, and announces it. $1 is the new seq, $2 the
// room, $3 the id.
func (d *DB) changeMessage(ctx context.Context, roomID string, id int64, set, cond string, args ...any) (Message, error) {
	var m Message
	reserve := d.reserveStmt(ctx)
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		rooms := map[string]int64{roomID: 0}
		if err := d.lockRooms(ctx, tx, rooms); err != nil {
			return err
		}
		seqs, err := d.reserveSeqs(ctx, tx, reserve, 1)
		if err != nil {
			return err
		}
		seq := seqs[0]
		m, err = scanMessage(tx.QueryRowContext(ctx, `UPDATE messages SET seq = $1, `+set+`
			WHERE room_id = $2 AND id = $3 AND `+cond+` RETURNING `+messageColumns,
			append([]any{seq, roomID, id}, args...)...))
		if errors.Is(err, sql.ErrNoRows) {
			// Say why: no such message, or not in a state to change.
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM messages WHERE room_id = $1 AND id = $2`, roomID, id).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return ErrNotFound
			}
			return ErrWrongState
		}
		if err != nil {
			return err
		}
		rooms[roomID] = seq
		return d.notifyRooms(ctx, tx, rooms)
	})
	return m, err
}

// chatLockClass is the first key of the per-room advisory locks of chat
// writes ("chat" in ASCII); the second is a hash of the room id. Rooms whose
// hashes collide merely share a lock.
const chatLockClass = 0x63686174

// lockRooms takes the chat write lock of each room, in id order so that two
// writers never wait for each other in a cycle. SQLite needs none: its write
// transactions exclude each other.
func (d *DB) lockRooms(ctx context.Context, tx *sql.Tx, rooms map[string]int64) error {
	if d.dialect != postgresDialect {
		return nil
	}
	ids := make([]string, 0, len(rooms))
	for id := range rooms {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		h := fnv.New32a()
		h.Write([]byte(id))
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1::int4, $2::int4)`,
			int32(chatLockClass), int32(h.Sum32())); err != nil {
			return err
		}
	}
	return nil
}
