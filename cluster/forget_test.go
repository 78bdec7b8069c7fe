package cluster_test

import (
	"fmt"
	"testing"
	"time"

	"lectern/storage"
	"lectern/storage/storagetest"
)

// TestForgetAfterOwnerLeft: a node that left the cluster tells no one, so
// another node's lookups still name it while they are remembered; Forget
// (called by a caller that found the owner gone) makes the next lookup read
// the registry again, which no longer has it.
func TestForgetAfterOwnerLeft(t *testing.T) {
	b := storagetest.Backend{Name: "postgres", DatabaseURL: storagetest.PostgresURL(t), DataDir: t.TempDir()}
	db := storagetest.Open(t, b)
	ctx := t.Context()
	// Lookups are remembered for a second: on a machine slow enough for the
	// second lookup to come later than that, the remembered answer is gone
	// before the test can show anything, and it tries again (a new room and
	// node).
	for attempt := range 5 {
		room, id := fmt.Sprintf("show%d", attempt), fmt.Sprintf("n1-%d", attempt)
		if _, err := db.CreateRoom(ctx, storage.Room{ID: room, Name: room, Mode: "webinar", Tier: "hd", PIN: "1", SpeakerPIN: "2"}); err != nil {
			t.Fatal(err)
		}
		r1, r2 := &rooms{live: map[string]bool{}}, &rooms{live: map[string]bool{}}
		n1, stop1 := start(t, db, id, r1)
		n2, stop2 := start(t, db, "n2-"+id, r2)
		if o, err := n1.PlaceHere(ctx, room); err != nil || !o.Local {
			t.Fatalf("%s placed on %s: %+v, %v", room, id, o, err)
		}
		r1.set(room, true)
		urls := n2.HTTP()
		// n2 stops running: its sweep would judge n1 dead from the lock
		// n1 frees when it stops, and forget every owner (two loaded CI
		// runs lost that race, before and after the second lookup). Here
		// only Forget may drop what n2 remembers; lookups need no Run.
		stop2()
		// Remembered just before n1 stops and leaves.
		remembered := time.Now()
		if u, err := urls.Lookup(ctx, room); err != nil || u != "http://"+id+":8080" {
			t.Fatalf("%s from n2: %q, %v; want %s", room, u, err, id)
		}
		stop1()
		if err := n1.Leave(ctx); err != nil {
			t.Fatal(err)
		}
		u, err := urls.Lookup(ctx, room)
		if err == nil && u == "" && time.Since(remembered) >= time.Second {
			t.Logf("attempt %d: the remembered answer expired before the second lookup (%v): again", attempt, time.Since(remembered))
			continue
		}
		if err != nil || u != "http://"+id+":8080" {
			t.Fatalf("%s from n2 right after %s left: %q, %v; want the remembered %s", room, id, u, err, id)
		}
		urls.Forget(room)
		if u, err := urls.Lookup(ctx, room); err != nil || u != "" {
			t.Errorf("%s from n2 after Forget: %q, %v; want none (served here)", room, u, err)
		}
		return
	}
	t.Fatal("in 5 attempts the machine never made two lookups within a second")
}
