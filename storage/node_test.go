package storage_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"lectern/storage"
	"lectern/storage/storagetest"
)

const deadAfter = 6 * time.Second

func createRooms(t *testing.T, db *storage.DB, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := db.CreateRoom(t.Context(), storage.Room{ID: id, Name: id, Mode: "conference", Tier: "hd", PIN: "1", SpeakerPIN: "2"}); err != nil {
			t.Fatal(err)
		}
	}
}

func beat(t *testing.T, db *storage.DB, n storage.Node) storage.Node {
	t.Helper()
	got, err := db.Heartbeat(t.Context(), n)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// placeOn places room as self and checks which node took it.
func placeOn(t *testing.T, db *storage.DB, room, self, want string) {
	t.Helper()
	p, err := db.PlaceRoom(t.Context(), room, self, deadAfter)
	if err != nil {
		t.Fatalf("place %s from %s: %v", room, self, err)
	}
	if p.RoomID != room || p.Node.ID != want || !p.Node.Live {
		t.Fatalf("place %s from %s: on %s (live %v), want %s", room, self, p.Node.ID, p.Node.Live, want)
	}
}

func TestNodeRegistry(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		clock := newFakeClock()
		storage.SetClock(db, clock.Now)
		ctx := t.Context()

		if _, err := db.Heartbeat(ctx, storage.Node{ID: "a"}); err == nil {
			t.Error("a heartbeat without a URL was stored")
		}
		first := beat(t, db, storage.Node{ID: "a", URL: "http://a:8080", RTSPURL: "rtsp://a:8554", Rooms: 1, Participants: 3})
		if !first.StartedAt.Equal(stored(clock.Now())) || !first.HeartbeatAt.Equal(first.StartedAt) || !first.Live {
			t.Errorf("first heartbeat: %+v", first)
		}
		clock.Advance(2 * time.Second)
		second := beat(t, db, storage.Node{ID: "a", URL: "http://a2:8080", Draining: true})
		want := storage.Node{ID: "a", URL: "http://a2:8080", Draining: true, StartedAt: first.StartedAt,
			HeartbeatAt: stored(clock.Now()), Live: true}
		if second != want {
			t.Errorf("second heartbeat: %+v, want %+v", second, want)
		}
		beat(t, db, storage.Node{ID: "b", URL: "http://b:8080"})
		clock.Advance(deadAfter + time.Millisecond)
		beat(t, db, storage.Node{ID: "b", URL: "http://b:8080"})

		nodes, err := db.Nodes(ctx, deadAfter)
		if err != nil || len(nodes) != 2 || nodes[0].ID != "a" || nodes[0].Live || nodes[1].ID != "b" || !nodes[1].Live {
			t.Fatalf("nodes: %+v, %v; want a dead, b live", nodes, err)
		}
		if n, err := db.Node(ctx, "a", time.Hour); err != nil || !n.Live || !n.Draining {
			t.Errorf("node a within an hour: %+v, %v", n, err)
		}
		if _, err := db.Node(ctx, "zz", deadAfter); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("unknown node: %v", err)
		}

		if n, err := db.PruneNodes(ctx, deadAfter); err != nil || n != 1 {
			t.Errorf("prune: %d, %v; want a removed", n, err)
		}
		if err := db.DeleteNode(ctx, "a"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("delete pruned node: %v", err)
		}
		if err := db.DeleteNode(ctx, "b"); err != nil {
			t.Error(err)
		}
		if nodes, err := db.Nodes(ctx, deadAfter); err != nil || len(nodes) != 0 {
			t.Errorf("after deleting: %+v, %v", nodes, err)
		}
	})
}

func TestPlacement(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		clock := newFakeClock()
		storage.SetClock(db, clock.Now)
		ctx := t.Context()
		createRooms(t, db, "r1", "r2", "r3", "r4")
		a := storage.Node{ID: "a", URL: "http://a"}
		bn := storage.Node{ID: "b", URL: "http://b"}
		beat(t, db, a)
		beat(t, db, bn)

		if _, err := db.RoomPlacement(ctx, "r1", deadAfter); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("placement before placing: %v", err)
		}
		placeOn(t, db, "r1", "b", "b") // a tie: the asking node takes it
		placeOn(t, db, "r1", "a", "b") // held by a live node
		placeOn(t, db, "r2", "b", "a") // fewest placements
		placeOn(t, db, "r4", "b", "b") // a tie again
		if p, err := db.PlaceRoomHere(ctx, "r3", "b", deadAfter); err != nil || p.Node.ID != "b" {
			t.Errorf("r3 placed here by b, which holds more: %+v, %v", p, err)
		}
		for _, room := range []string{"r3", "r4"} {
			if err := db.ReleaseRoom(ctx, room, "b"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.PlaceRoom(ctx, "missing", "a", deadAfter); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("placing a missing room: %v", err)
		}

		// A draining node takes no new rooms but keeps its own.
		a.Draining = true
		beat(t, db, a)
		placeOn(t, db, "r3", "a", "b")
		placeOn(t, db, "r2", "b", "a")
		if p, err := db.PlaceRoomHere(ctx, "r3", "a", deadAfter); err != nil || p.Node.ID != "b" {
			t.Errorf("r3 placed here by draining a: %+v, %v; want it kept on b", p, err)
		}

		// b dies: its rooms move to the next live node that asks.
		clock.Advance(deadAfter / 2)
		a.Draining = false
		beat(t, db, a)
		clock.Advance(deadAfter/2 + time.Millisecond)
		if p, err := db.RoomPlacement(ctx, "r1", deadAfter); err != nil || p.Node.ID != "b" || p.Node.Live {
			t.Errorf("r1 on a dead node: %+v, %v", p, err)
		}
		placeOn(t, db, "r1", "a", "a")
		ps, err := db.NodePlacements(ctx, "a", deadAfter)
		if err != nil || len(ps) != 2 || ps[0].RoomID != "r1" || ps[1].RoomID != "r2" || !ps[0].PlacedAt.Equal(stored(clock.Now())) {
			t.Errorf("a's placements: %+v, %v", ps, err)
		}

		if err := db.ReleaseRoom(ctx, "r2", "b"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("release by a node that does not hold it: %v", err)
		}
		if err := db.ReleaseRoom(ctx, "r2", "a"); err != nil {
			t.Error(err)
		}
		if _, err := db.RoomPlacement(ctx, "r2", deadAfter); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("after release: %v", err)
		}

		// Nobody live: nothing can be placed, and a dead owner is not returned.
		clock.Advance(deadAfter + time.Millisecond)
		for _, room := range []string{"r1", "r2"} {
			if _, err := db.PlaceRoom(ctx, room, "a", deadAfter); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("placing %s with no live node: %v", room, err)
			}
		}

		// Deleting a node or a room drops their placements.
		beat(t, db, bn)
		placeOn(t, db, "r4", "b", "b")
		if err := db.DeleteRoom(ctx, "r4"); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteNode(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.RoomPlacement(ctx, "r1", deadAfter); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("r1 outlived its node: %v", err)
		}
		if ps, err := db.NodePlacements(ctx, "b", deadAfter); err != nil || len(ps) != 1 || ps[0].RoomID != "r3" {
			t.Errorf("b's placements after deleting r4: %+v, %v", ps, err)
		}
	})
}

// TestPlacementRace places one room from two nodes (and, on PostgreSQL, two
// connection pools) at once: every answer names the same node.
func TestPlacementRace(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		dbs := []*storage.DB{storagetest.Open(t, b)}
		if b.DatabaseURL != "" {
			dbs = append(dbs, storagetest.Open(t, b))
		}
		for _, id := range []string{"a", "b"} {
			beat(t, dbs[0], storage.Node{ID: id, URL: "http://" + id})
		}
		rooms := []string{"x1", "x2", "x3", "x4", "x5"}
		createRooms(t, dbs[0], rooms...)
		for _, room := range rooms {
			var wg sync.WaitGroup
			got := make([]string, 8)
			for i := range got {
				wg.Go(func() {
					p, err := dbs[i%len(dbs)].PlaceRoom(t.Context(), room, []string{"a", "b"}[i%2], deadAfter)
					if err != nil {
						t.Error(err)
						return
					}
					got[i] = p.Node.ID
				})
			}
			wg.Wait()
			for i := range got {
				if got[i] != got[0] {
					t.Fatalf("room %s placed on %v: nodes disagree", room, got)
				}
			}
		}
	})
}
