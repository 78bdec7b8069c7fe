package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// nodeLockClass is the first key of every node's advisory lock ("Lect"), the
// second being hashtext(node ID): PostgreSQL shows such a lock in pg_locks
// with classid = nodeLockClass, objid = the hash and objsubid = 2.
const nodeLockClass = 0x4c656374

// ErrNodeLocked is returned by LockNode when another process holds the node ID.
var ErrNodeLocked = errors.New("another process holds this node ID")

// ErrNoNodeLocks is returned by LockNode on SQLite, which has no advisory locks.
var ErrNoNodeLocks = errors.New("node locks need PostgreSQL")

// NodeLock is a PostgreSQL session-level advisory lock that a node holds on a
// dedicated connection for as long as its process lives. When the process
// dies, its kernel closes the socket and PostgreSQL frees the lock at once:
// other nodes see it gone (ExpireUnlockedNodes) without waiting for the
// node's heartbeat to age. It is not safe for concurrent use.
type NodeLock struct {
	conn *pgx.Conn
}

// LockNode opens a connection outside the pool and takes node id's lock on
// it. ErrNodeLocked when another session holds it; ErrNoNodeLocks on SQLite.
func (d *DB) LockNode(ctx context.Context, id string) (*NodeLock, error) {
	if d.pool == nil {
		return nil, ErrNoNodeLocks
	}
	conn, err := pgx.ConnectConfig(ctx, d.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("storage: node lock connection: %w", err)
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, nodeLockClass, id).Scan(&got); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("storage: lock node %q: %w", id, err)
	}
	if !got {
		conn.Close(context.Background())
		return nil, fmt.Errorf("storage: lock node %q: %w", id, ErrNodeLocked)
	}
	return &NodeLock{conn: conn}, nil
}

// Check reports an error when the lock's connection is lost: the lock is
// then free, and other nodes may already have judged this one dead.
func (l *NodeLock) Check(ctx context.Context) error {
	if l.conn.IsClosed() {
		return errors.New("storage: node lock connection closed")
	}
	if err := l.conn.Ping(ctx); err != nil {
		return fmt.Errorf("storage: node lock connection: %w", err)
	}
	return nil
}

// Release closes the lock's connection, which frees the lock.
func (l *NodeLock) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.conn.Close(ctx)
}

// ExpireUnlockedNodes judges dead, at once, every node whose heartbeat is
// still within deadAfter but whose advisory lock no session holds — its
// process has died — by dating its heartbeat just past deadAfter, so its rooms
// are placed afresh at their next join. It returns the IDs of those nodes. A
// node takes its lock before its first heartbeat (cluster.Node.Register), so
// a live node is never expired. On SQLite it does nothing.
func (d *DB) ExpireUnlockedNodes(ctx context.Context, deadAfter time.Duration) ([]string, error) {
	if d.pool == nil {
		return nil, nil
	}
	stale := millis(d.clock().Add(-deadAfter)) - 1
	rows, err := d.writer.QueryContext(ctx, `UPDATE nodes n SET heartbeat_at = $1
		WHERE n.heartbeat_at > $1 AND NOT EXISTS (SELECT 1 FROM pg_locks l
			WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
			AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND CAST(l.classid AS BIGINT) = $2 AND CAST(l.objid AS BIGINT) = (CAST(hashtext(n.id) AS BIGINT) & 4294967295))
		RETURNING n.id`, stale, int64(nodeLockClass))
	if err != nil {
		return nil, fmt.Errorf("storage: expire unlocked nodes: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("storage: expire unlocked nodes: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: expire unlocked nodes: %w", err)
	}
	return ids, nil
}
