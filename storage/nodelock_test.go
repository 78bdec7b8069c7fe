package storage_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"lectern/storage"
	"lectern/storage/storagetest"
)

// TestNodeLock: a node ID is locked by one session at a time; a node whose
// lock is free while its heartbeat is fresh is judged dead at once, and one
// that holds its lock is not; SQLite has no node locks.
func TestNodeLock(t *testing.T) {
	db := storagetest.Open(t, storagetest.Backend{Name: "postgres", DatabaseURL: storagetest.PostgresURL(t), DataDir: t.TempDir()})
	ctx := t.Context()
	createRooms(t, db, "r")
	lockA, err := db.LockNode(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer lockA.Release()
	if _, err := db.LockNode(ctx, "a"); !errors.Is(err, storage.ErrNodeLocked) {
		t.Fatalf("second lock of a: %v, want ErrNodeLocked", err)
	}
	lockB, err := db.LockNode(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		beat(t, db, storage.Node{ID: id, URL: "http://" + id})
	}
	if got, err := db.ExpireUnlockedNodes(ctx, deadAfter); err != nil || len(got) != 0 {
		t.Fatalf("expire with both locks held: %v, %v", got, err)
	}
	placeOn(t, db, "r", "b", "b")
	if err := lockB.Check(ctx); err != nil {
		t.Fatal(err)
	}
	lockB.Release() // b's process dies
	if err := lockB.Check(ctx); err == nil {
		t.Error("a released lock still checks out")
	}
	// PostgreSQL frees the lock when b's backend has handled the closed
	// connection, a moment after the close returns (on a loaded machine, as
	// in one CI run, after the first look).
	var got []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		got, err = db.ExpireUnlockedNodes(ctx, deadAfter)
		if err != nil || len(got) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling PostgreSQL's lock table, bounded by the deadline
	}
	if err != nil || !slices.Equal(got, []string{"b"}) {
		t.Fatalf("expire after b's lock was freed: %v, %v; want [b]", got, err)
	}
	if n, err := db.Node(ctx, "b", deadAfter); err != nil || n.Live {
		t.Errorf("b after expiry: %+v, %v; want it dead", n, err)
	}
	if n, err := db.Node(ctx, "a", deadAfter); err != nil || !n.Live {
		t.Errorf("a: %+v, %v; want it live", n, err)
	}
	placeOn(t, db, "r", "a", "a") // b's room is taken over at once
	if got, err := db.ExpireUnlockedNodes(ctx, deadAfter); err != nil || len(got) != 0 {
		t.Errorf("expire again: %v, %v; want nothing", got, err)
	}
	// b comes back under the same ID: it takes the lock again, then beats.
	lockB, err = db.LockNode(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	defer lockB.Release()
	beat(t, db, storage.Node{ID: "b", URL: "http://b"})
	if got, err := db.ExpireUnlockedNodes(ctx, time.Minute); err != nil || len(got) != 0 {
		t.Errorf("expire after b came back: %v, %v", got, err)
	}

	lite := storagetest.Open(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	if _, err := lite.LockNode(ctx, "a"); !errors.Is(err, storage.ErrNoNodeLocks) {
		t.Errorf("SQLite node lock: %v, want ErrNoNodeLocks", err)
	}
	if got, err := lite.ExpireUnlockedNodes(ctx, deadAfter); err != nil || got != nil {
		t.Errorf("SQLite expire: %v, %v", got, err)
	}
}
