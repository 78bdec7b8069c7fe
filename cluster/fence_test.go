package cluster_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"lectern/cluster"
	"lectern/storage"
	"lectern/storage/storagetest"
)

// TestFenceOnLostLock: a node whose lock connection is cut (here by
// pg_terminate_backend, as a network fault or a database restart would)
// may be judged dead by the others at once: it fences itself, ending every
// session (OnFenced, Fence's evict), and lifts the fence once it holds its
// lock again and has heartbeat. The other node may judge it dead meanwhile
// (TestNodeLock and cmd/lectern's TestFailoverKill9 show that it does when
// the lock stays free).
func TestFenceOnLostLock(t *testing.T) {
	dbURL := storagetest.PostgresURL(t)
	db := storagetest.Open(t, storagetest.Backend{Name: "postgres", DatabaseURL: dbURL, DataDir: t.TempDir()})
	if _, err := db.CreateRoom(t.Context(), storage.Room{ID: "r", Name: "r", Mode: "conference", Tier: "hd", PIN: "1", SpeakerPIN: "2"}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r1 := &rooms{live: map[string]bool{"r": true}}
	var fenced, evicted atomic.Int32
	n1, err := cluster.New(cluster.Config{NodeID: "n1", URL: "http://n1", Interval: 100 * time.Millisecond, DeadAfter: 2 * time.Second}, db,
		func() cluster.Load { return cluster.Load{} }, r1.has, log)
	if err != nil {
		t.Fatal(err)
	}
	n1.Fence(func() []string { return []string{"r"} }, func(string) { evicted.Add(1) })
	n1.OnFenced(func() { fenced.Add(1) })
	if n1.Fenced() == false {
		t.Error("a node is not fenced before it has registered")
	}
	if err := n1.Register(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n1.Fenced() {
		t.Fatal("fenced right after registering")
	}
	// A second process under the same node ID is refused.
	twin, err := cluster.New(cluster.Config{NodeID: "n1", URL: "http://n1", Interval: time.Second}, db,
		func() cluster.Load { return cluster.Load{} }, r1.has, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := twin.Register(t.Context()); !errors.Is(err, storage.ErrNodeLocked) {
		t.Errorf("a second process under a node ID whose lock is held: %v, want ErrNodeLocked", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n1.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	if _, err := n1.Place(t.Context(), "r"); err != nil {
		t.Fatal(err)
	}
	n2, stop2 := start(t, db, "n2", &rooms{live: map[string]bool{}})
	defer stop2()

	raw, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var killed bool
	if err := raw.QueryRowContext(t.Context(), `SELECT bool_or(pg_terminate_backend(l.pid)) FROM pg_locks l
		WHERE l.locktype = 'advisory' AND l.objid = (CAST(hashtext('n1') AS BIGINT) & 4294967295)
		AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&killed); err != nil || !killed {
		t.Fatalf("cutting n1's lock connection: %v, %v", killed, err)
	}
	// n2 judges n1 dead only if it looks while the lock is free: n1 takes it
	// again with its next heartbeat (100 ms), and a loaded machine can miss
	// that window, so it is logged, not awaited. What must happen is n1's
	// own fence.
	until(t, "n1 fencing itself", func() bool { return fenced.Load() == 1 })
	if n, err := db.Node(t.Context(), "n1", 2*time.Second); err == nil && !n.Live {
		t.Log("n2 judged n1 dead while its lock was free")
	}
	if evicted.Load() != 1 {
		t.Errorf("n1 ended %d rooms when fenced, want 1", evicted.Load())
	}
	if o, err := n2.Place(t.Context(), "r"); err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	} else if err == nil {
		t.Logf("room r placed on %s while n1 was fenced", o.NodeID)
	}
	until(t, "n1 lifting its fence", func() bool { return !n1.Fenced() })
	if fenced.Load() != 1 {
		t.Errorf("n1 fenced %d times, want 1", fenced.Load())
	}
	if n, err := db.Node(t.Context(), "n1", 2*time.Second); err != nil || !n.Live {
		t.Errorf("n1 after it rejoined: %+v, %v", n, err)
	}
}
