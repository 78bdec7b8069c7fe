package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"lectern/storage"
)

// Liveness, both ways.
//
// Other nodes: each node holds a PostgreSQL advisory lock on a connection of
// its own for as long as its process lives (storage.NodeLock). When the
// process dies (kill -9, a crash, OOM), its kernel closes the socket and
// PostgreSQL frees the lock; every node looks for such nodes each
// watchInterval (storage.ExpireUnlockedNodes) and judges them dead at once.
// A node that stalls (SIGSTOP, a long pause) or whose machine vanishes keeps
// its lock or its socket: its heartbeat ages past DeadAfter, as before.
//
// Itself: a node whose last successful heartbeat began more than
// selfDeadAfter ago, or whose lock connection is lost, may have been judged
// dead: it is fenced. It ends every session it holds at once (OnFenced:
// WebRTC participants, WHIP/WHEP, RTSP publishers and readers), and answers
// no request until it holds its lock again, has heartbeat and has released
// the placements it no longer serves (lift). Fenced is checked by the API and
// the RTSP server before serving anything; it needs no database call, so a
// node resuming from SIGSTOP refuses requests that were queued while it was
// stopped before its heartbeat goroutine has even run.

// maxWatchInterval bounds how long a dead process's rooms stay placed on it.
const maxWatchInterval = 250 * time.Millisecond

func (n *Node) watchInterval() time.Duration {
	return min(n.cfg.Interval/4, maxWatchInterval)
}

// selfDeadAfter is how old this node's last successful heartbeat may be
// before it fences itself: half an interval before the others judge it dead,
// so that it stops serving before any other node can take its rooms.
func (n *Node) selfDeadAfter() time.Duration {
	return n.cfg.DeadAfter - n.cfg.Interval/2
}

// now is the monotonic time since the node was made.
func (n *Node) now() time.Duration { return time.Since(n.epoch) }

// sinceBeat is the age of the last successful heartbeat's start.
func (n *Node) sinceBeat() time.Duration { return n.now() - time.Duration(n.lastBeat.Load()) }

// Fenced reports whether this node may have been judged dead by the others
// and so must serve nothing: its last heartbeat is too old, or it lost its
// lock, and it has not yet recovered (see lift). It reads no database.
func (n *Node) Fenced() bool {
	return n.fenced.Load() || n.sinceBeat() > n.selfDeadAfter()
}

// OnFenced sets what ends every session on this node when it finds itself
// fenced (rooms, WHIP/WHEP, RTSP). Call it before Run.
func (n *Node) OnFenced(end func()) { n.onFenced = end }

// ClaimWhen limits the rooms with media here but no placement (their session
// started while no node held them and the node asked did not place them, as
// for viewers) that the node claims with its heartbeat to those for which
// publishing is true: a room's placement follows its publisher, not its first
// viewer. Viewers of a room that a publisher then places on another node are
// ended here (Fence) and rejoin there. Call it before Run.
func (n *Node) ClaimWhen(publishing func(room string) bool) { n.publishing = publishing }

// takeLock takes the node's advisory lock if it does not hold it. On SQLite
// there is none, and liveness rests on heartbeats alone.
func (n *Node) takeLock(ctx context.Context) error {
	n.lockMu.Lock()
	defer n.lockMu.Unlock()
	if n.lock != nil || n.lockless {
		return nil
	}
	l, err := n.db.LockNode(ctx, n.cfg.NodeID)
	switch {
	case errors.Is(err, storage.ErrNoNodeLocks):
		n.lockless = true
		return nil
	case err != nil:
		return fmt.Errorf("cluster: %w", err)
	}
	n.lock = l
	return nil
}

// releaseLock frees the lock: other nodes judge this one dead at once.
func (n *Node) releaseLock() {
	n.lockMu.Lock()
	defer n.lockMu.Unlock()
	if n.lock != nil {
		n.lock.Release()
		n.lock = nil
	}
}

// watch fences the node when its heartbeat is too old or its lock is lost,
// and, while it is not fenced, judges dead the nodes whose lock is free.
func (n *Node) watch(ctx context.Context) {
	if age := n.sinceBeat(); age > n.selfDeadAfter() {
		n.fence1(fmt.Sprintf("last successful heartbeat %v ago", age.Round(time.Millisecond)))
	}
	n.lockMu.Lock()
	l := n.lock
	n.lockMu.Unlock()
	if l != nil {
		// A check that outlives its deadline closes the lock's connection
		// (pgx does, on cancel), which frees the lock: the deadline is the
		// fence's own, so that a database slow for a second or two (a loaded
		// machine) costs no fence; one slower than that fences the node by
		// its heartbeat's age anyway. (It was one heartbeat interval: a CI
		// run under a load of 20 saw a node fence itself 4 s after its start.)
		cctx, cancel := context.WithTimeout(ctx, n.selfDeadAfter())
		err := l.Check(cctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			n.lockMu.Lock()
			if n.lock == l {
				l.Release()
				n.lock = nil
			}
			n.lockMu.Unlock()
			n.fence1("its lock connection was lost: " + err.Error())
		}
	}
	if n.Fenced() || n.lockless {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, n.cfg.Interval)
	dead, err := n.db.ExpireUnlockedNodes(cctx, n.cfg.DeadAfter)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			n.log.Debug("cluster: looking for dead nodes failed", "err", err)
		}
		return
	}
	if len(dead) > 0 {
		n.log.Warn("cluster nodes judged dead: their process is gone (lock freed)", "nodes", dead)
		n.forgetOwners()
	}
}

// fence1 fences the node, once until lift, and ends every session on it.
func (n *Node) fence1(why string) {
	if n.fenced.Swap(true) {
		return
	}
	n.log.Warn("cluster node fenced: it may have been judged dead; ending every session here", "why", why)
	n.forgetOwners()
	if n.mediaRooms != nil && n.evict != nil {
		for _, room := range n.mediaRooms() {
			n.evict(room)
		}
	}
	if n.onFenced != nil {
		n.onFenced()
	}
}

// lift ends the fence after a heartbeat and sweep succeeded with the lock
// held: the node is live again for the others, and the placements of the
// rooms it ended are released.
func (n *Node) lift() {
	if !n.fenced.Load() || n.sinceBeat() > n.selfDeadAfter() {
		return
	}
	n.lockMu.Lock()
	lost := !n.lockless && n.lock == nil
	n.lockMu.Unlock()
	if lost {
		return
	}
	n.fenced.Store(false)
	n.log.Info("cluster node fence lifted: serving again")
}
