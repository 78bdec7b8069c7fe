package storage

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// checkpointEvery is how often SQLite's write-ahead log is copied into the
// database file. The writer's automatic checkpoints are off (sqliteDSN): they
// run inside a commit, and the fsync they end with held the writer, and every
// chat post queued behind it, for 10 to 150 ms on the development machine.
// A PASSIVE checkpoint on a connection of its own runs beside the writer.
const checkpointEvery = time.Second

// checkpointer copies the WAL into the database file in the background. Its
// goroutine is started by OpenSQLite and stopped and waited for by Close.
type checkpointer struct {
	conn *sql.DB
	stop chan struct{}
	done chan struct{}
}

func startCheckpointer(conn *sql.DB) *checkpointer {
	c := &checkpointer{conn: conn, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *checkpointer) run() {
	defer close(c.done)
	tick := time.NewTicker(checkpointEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-c.stop:
			return
		}
		// An error (say, the disk is full) leaves the WAL to grow until a
		// later checkpoint succeeds; the writes themselves report problems.
		c.conn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
	}
}

// close stops the checkpointer, runs a last checkpoint and closes its
// connection.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	_, err := c.conn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
	return errors.Join(err, c.conn.Close())
}
