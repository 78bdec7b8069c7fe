package webhook_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"lectern/storage"
	"lectern/storage/storagetest"
	"lectern/webhook"
)

// testConfig delivers to url with short waits.
func testConfig(url string) webhook.Config {
	cfg := webhook.DefaultConfig()
	cfg.URL, cfg.Secret, cfg.Node = url, testSecret, "test-node"
	cfg.Timeout, cfg.MinBackoff, cfg.MaxBackoff, cfg.Poll = 2*time.Second, 20*time.Millisecond, 200*time.Millisecond, 50*time.Millisecond
	return cfg
}

// start runs a dispatcher until the returned stop is called (or the test ends).
func start(t *testing.T, cfg webhook.Config, db *storage.DB) (*webhook.Dispatcher, func()) {
	t.Helper()
	d, err := webhook.New(cfg, db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return d, stop
}

// emitRooms emits n events in each of rooms, numbered in the participant
// identity so that order can be checked.
func emitRooms(d *webhook.Dispatcher, rooms []string, from, n int) {
	for i := from; i < from+n; i++ {
		for _, room := range rooms {
			d.Emit(context.Background(), webhook.Event{Type: webhook.ParticipantJoined, Room: room,
				Participant: &webhook.Participant{ID: fmt.Sprint(i), Identity: fmt.Sprint("user", i)}})
		}
	}
}

// checkOrder checks that r got n events per room, numbered 0..n-1 in order.
func checkOrder(t *testing.T, r *receiver, rooms []string, n int) {
	t.Helper()
	next := map[string]int{}
	for _, ev := range r.received() {
		if want := fmt.Sprint(next[ev.Room]); ev.Participant == nil || ev.Participant.ID != want {
			t.Fatalf("room %s: got event %+v, want participant %s next", ev.Room, ev.Participant, want)
		}
		next[ev.Room]++
		if !strings.HasPrefix(ev.Node, "test-node") {
			t.Errorf("event node %q", ev.Node)
		}
	}
	for _, room := range rooms {
		if next[room] != n {
			t.Errorf("room %s: %d events, want %d", room, next[room], n)
		}
	}
	if dups := r.duplicates(); len(dups) > 0 {
		t.Errorf("delivered more than once: %v", dups)
	}
}

var rooms = []string{"alpha", "beta", "gamma"}

func TestDeliversSignedInOrder(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		r := newReceiver(t)
		d, _ := start(t, testConfig(r.srv.URL), storagetest.Open(t, b))
		emitRooms(d, rooms, 0, 20)
		waitFor(t, "60 events", func() bool { return len(r.received()) >= 60 })
		checkOrder(t, r, rooms, 20)
		// The count follows the receiver's answer.
		waitFor(t, "60 delivered", func() bool { return d.Stats().Delivered == 60 })
		if s := d.Stats(); s.Emitted != 60 || s.Dropped != 0 || s.Failed != 0 {
			t.Errorf("stats %+v", s)
		}
	})
}

// TestBacklogAfterReceiverDown: events emitted while the receiver fails are
// retried and arrive, in order per room, once it is back.
func TestBacklogAfterReceiverDown(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		r := newReceiver(t)
		r.setDown(true)
		db := storagetest.Open(t, b)
		d, _ := start(t, testConfig(r.srv.URL), db)
		emitRooms(d, rooms, 0, 10)
		waitFor(t, "failed attempts", func() bool { return d.Stats().Failed >= 10 })
		if got := r.received(); len(got) != 0 {
			t.Fatalf("a down receiver got %d events", len(got))
		}
		r.setDown(false)
		waitFor(t, "the backlog", func() bool { return len(r.received()) >= 30 })
		checkOrder(t, r, rooms, 10)
		waitFor(t, "an empty outbox", func() bool { n, _ := db.WebhookBacklog(t.Context()); return n == 0 })
	})
}

// TestBacklogAfterRestart: what was emitted before a restart, delivered or
// not, arrives after it; nothing is lost with the process.
func TestBacklogAfterRestart(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		r := newReceiver(t)
		r.setDown(true)
		db := storagetest.Open(t, b)
		d, stop := start(t, testConfig(r.srv.URL), db)
		emitRooms(d, rooms, 0, 5)
		waitFor(t, "failed attempts", func() bool { return d.Stats().Failed >= 3 })
		emitRooms(d, rooms, 5, 5) // still queued, perhaps, when Run ends: stored on the way out
		stop()
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		db2 := storagetest.Open(t, b)
		if n, err := db2.WebhookBacklog(t.Context()); err != nil || n != 30 {
			t.Fatalf("outbox after restart holds %d, %v; want 30", n, err)
		}
		r.setDown(false)
		start(t, testConfig(r.srv.URL), db2)
		waitFor(t, "the backlog", func() bool { return len(r.received()) >= 30 })
		checkOrder(t, r, rooms, 10)
	})
}

// TestHangingReceiver: a receiver that never answers holds up neither Emit
// nor the storing of events: while its first deliveries hang (for a minute,
// the timeout), everything emitted is stored; once it answers, everything
// arrives.
func TestHangingReceiver(t *testing.T) {
	r := newReceiver(t)
	r.setHang(true)
	db := storagetest.Open(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	cfg := testConfig(r.srv.URL)
	cfg.Timeout = time.Minute
	d, _ := start(t, cfg, db)
	var slowest time.Duration
	for i := range 500 {
		t0 := time.Now()
		d.Emit(t.Context(), webhook.Event{Type: webhook.TrackPublished, Room: fmt.Sprint("room", i%50)})
		slowest = max(slowest, time.Since(t0))
	}
	// Emit only marshals and queues: far below the receiver's minute even on a loaded machine.
	if slowest > 5*time.Second {
		t.Errorf("slowest Emit took %v with a hanging receiver", slowest)
	}
	waitFor(t, "500 events stored", func() bool { n, _ := db.WebhookBacklog(t.Context()); return n == 500 })
	if got := len(r.received()); got != 0 {
		t.Fatalf("hanging receiver got %d events", got)
	}
	r.setHang(false)
	r.srv.CloseClientConnections() // the hanging attempts fail now, and are retried
	waitFor(t, "every event", func() bool { return len(r.received()) >= 500 })
	if s := d.Stats(); s.Dropped != 0 || s.Emitted != 500 {
		t.Errorf("stats %+v", s)
	}
}

// TestOutboxFull: past MaxOutbox, new events are dropped and counted; the
// older ones stay and are delivered.
func TestOutboxFull(t *testing.T) {
	r := newReceiver(t)
	r.setDown(true)
	db := storagetest.Open(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	cfg := testConfig(r.srv.URL)
	cfg.MaxOutbox = 5
	d, _ := start(t, cfg, db)
	emitRooms(d, []string{"alpha"}, 0, 8)
	waitFor(t, "3 dropped", func() bool { return d.Stats().Dropped == 3 })
	r.setDown(false)
	waitFor(t, "5 events", func() bool { return len(r.received()) >= 5 })
	checkOrder(t, r, []string{"alpha"}, 5)
}

func TestBadConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*webhook.Config)
	}{
		{"no URL", func(c *webhook.Config) { c.URL = "" }},
		{"not http", func(c *webhook.Config) { c.URL = "ftp://x/y" }},
		{"credentials", func(c *webhook.Config) { c.URL = "https://u:p@x/y" }},
		{"short secret", func(c *webhook.Config) { c.Secret = "short" }},
		{"no outbox", func(c *webhook.Config) { c.MaxOutbox = 0 }},
		{"backoff", func(c *webhook.Config) { c.MaxBackoff = c.MinBackoff / 2 }},
	} {
		cfg := testConfig("https://example.com/hook")
		tt.edit(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: valid", tt.name)
		}
	}
	if err := testConfig("https://example.com/hook").Validate(); err != nil {
		t.Error(err)
	}
}
