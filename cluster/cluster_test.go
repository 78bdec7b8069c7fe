package cluster_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"lectern/cluster"
	"lectern/storage"
	"lectern/storage/storagetest"
)

// rooms is the set of rooms with media on a test node.
type rooms struct {
	mu   sync.Mutex
	live map[string]bool
}

func (r *rooms) set(room string, live bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live[room] = live
}

func (r *rooms) has(room string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.live[room]
}

// start registers a node on db and heartbeats until stop is called or the
// test ends.
func start(t *testing.T, db *storage.DB, id string, r *rooms) (n *cluster.Node, stop func()) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := cluster.New(cluster.Config{NodeID: id, URL: "http://" + id + ":8080", RTSPURL: "rtsp://" + id + ":8554",
		// A node whose heartbeat is 2 s late is dead: a loaded CI machine
		// delayed one past 500 ms, and the other node took its room.
		Interval: 50 * time.Millisecond, DeadAfter: 2 * time.Second}, db,
		func() cluster.Load { return cluster.Load{Rooms: 1, Participants: 2} }, r.has, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Register(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(stop)
	return n, stop
}

// until polls cond until it holds or 20 s pass.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no %s within 20 s", what)
		}
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	db := storagetest.Open(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for want, cfg := range map[string]cluster.Config{
		"node_id: must be 1 to 64 characters":                   {URL: "http://a", Interval: time.Second},
		`public_url: "a:80" is not an http(s) URL`:              {NodeID: "a", URL: "a:80", Interval: time.Second},
		"cluster heartbeat interval: must be positive":          {NodeID: "a", URL: "http://a"},
		"cluster dead-after: must be longer than the heartbeat": {NodeID: "a", URL: "http://a", Interval: time.Second, DeadAfter: time.Second},
	} {
		_, err := cluster.New(cfg, db, func() cluster.Load { return cluster.Load{} }, func(string) bool { return false }, log)
		if err == nil || len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
			t.Errorf("%+v: %v, want %q...", cfg, err, want)
		}
	}
}

// TestPlaceSweepAndLeave: rooms go to the least loaded node; an idle
// placement is released after its grace period while a live one stays;
// leaving frees a node's rooms at once.
func TestPlaceSweepAndLeave(t *testing.T) {
	b := storagetest.Backend{Name: "postgres", DatabaseURL: storagetest.PostgresURL(t), DataDir: t.TempDir()}
	db := storagetest.Open(t, b)
	for _, id := range []string{"busy", "idle", "third"} {
		if _, err := db.CreateRoom(t.Context(), storage.Room{ID: id, Name: id, Mode: "conference", Tier: "hd", PIN: "1", SpeakerPIN: "2"}); err != nil {
			t.Fatal(err)
		}
	}
	r1, r2 := &rooms{live: map[string]bool{}}, &rooms{live: map[string]bool{}}
	n1, stop1 := start(t, db, "n1", r1)
	n2, _ := start(t, db, "n2", r2)
	ctx := t.Context()

	o, err := n1.Place(ctx, "busy")
	if err != nil || !o.Local || o.NodeID != "n1" {
		t.Fatalf("busy placed from n1: %+v, %v", o, err)
	}
	r1.set("busy", true)
	o, err = n1.Place(ctx, "idle") // n2 holds fewer rooms
	if err != nil || o.Local || o.NodeID != "n2" || o.URL != "http://n2:8080" || o.RTSPURL != "rtsp://n2:8554" {
		t.Fatalf("idle placed from n1: %+v, %v", o, err)
	}
	if o, err := n2.Lookup(ctx, "busy"); err != nil || o.NodeID != "n1" {
		t.Errorf("lookup of busy from n2: %+v, %v", o, err)
	}
	if u, err := n2.HTTP().Place(ctx, "busy"); err != nil || u != "http://n1:8080" {
		t.Errorf("HTTP URL of busy from n2: %q, %v", u, err)
	}
	if u, err := n1.RTSP().Lookup(ctx, "busy"); err != nil || u != "" {
		t.Errorf("RTSP URL of busy from its own node: %q, %v", u, err)
	}
	if u, err := n1.HTTP().Place(ctx, "no-such-room"); err != nil || u != "" {
		t.Errorf("a missing room: %q, %v; want it served here", u, err)
	}

	// Nobody came to "idle" on n2: n2 releases it once its grace has passed.
	until(t, "release of the idle room", func() bool {
		_, err := db.RoomPlacement(ctx, "idle", time.Minute)
		return errors.Is(err, storage.ErrNotFound)
	})
	if p, err := db.RoomPlacement(ctx, "busy", time.Minute); err != nil || p.Node.ID != "n1" {
		t.Errorf("the live room: %+v, %v; want it kept on n1", p, err)
	}

	// A draining node keeps its live room and sends new ones away.
	if err := n1.Drain(ctx); err != nil || !n1.Draining() {
		t.Fatal(err)
	}
	if o, err := n1.PlaceHere(ctx, "third"); err != nil || o.NodeID != "n2" {
		t.Errorf("third placed here by draining n1: %+v, %v; want n2", o, err)
	}
	if o, err := n1.Place(ctx, "busy"); err != nil || !o.Local {
		t.Errorf("busy on draining n1: %+v, %v", o, err)
	}

	stop1()
	if err := n1.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RoomPlacement(ctx, "busy", time.Minute); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("busy after n1 left: %v", err)
	}
	if nodes, err := db.Nodes(ctx, time.Minute); err != nil || len(nodes) != 1 || nodes[0].ID != "n2" ||
		nodes[0].Rooms != 1 || nodes[0].Participants != 2 {
		t.Errorf("registry after n1 left: %+v, %v", nodes, err)
	}
}
