package chat

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"lectern/access"
	"lectern/storage"
	"lectern/storage/storagetest"
)

// waitLimit bounds every wait in these tests; nothing here takes long.
const waitLimit = 10 * time.Second

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// startHub runs a hub over db until the test ends.
func startHub(t *testing.T, db *storage.DB, edit func(*Config)) *Hub {
	t.Helper()
	cfg := DefaultConfig()
	if edit != nil {
		edit(&cfg)
	}
	h, err := New(cfg, db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub Run: %v", err)
		}
	})
	return h
}

// newRooms creates rooms (id -> mode) in db.
func newRooms(t *testing.T, db *storage.DB, rooms map[string]string) {
	t.Helper()
	for id, mode := range rooms {
		if _, err := db.CreateRoom(t.Context(), storage.Room{ID: id, Name: id, Mode: mode, Tier: "hd"}); err != nil {
			t.Fatal(err)
		}
	}
}

func viewer(identity string, p access.Permissions) Viewer {
	return Viewer{Identity: identity, Name: "Name of " + identity, Permissions: p}
}

// feed is a subscription being read into a channel of events, backlog first.
type feed struct {
	t      *testing.T
	sub    *Subscription
	events chan Event
	ended  chan error
}

func subscribe(t *testing.T, h *Hub, room string, v Viewer, after int64) *feed {
	t.Helper()
	sub, err := h.Subscribe(t.Context(), room, v, after)
	if err != nil {
		t.Fatalf("subscribe %s: %v", v.Identity, err)
	}
	f := &feed{t: t, sub: sub, events: make(chan Event, 10000), ended: make(chan error, 1)}
	go func() {
		for {
			fr, err := sub.Backlog(context.Background())
			if err != nil {
				f.ended <- err
				return
			}
			if len(fr.Events) == 0 {
				break
			}
			for _, e := range fr.Events {
				f.events <- e
			}
		}
		for {
			select {
			case fr := <-sub.Frames():
				for _, e := range fr.Events {
					f.events <- e
				}
			case <-sub.Done():
				f.ended <- sub.Err()
				return
			}
		}
	}()
	t.Cleanup(sub.Close)
	return f
}

// next returns the next event.
func (f *feed) next() Event {
	f.t.Helper()
	select {
	case e := <-f.events:
		return e
	case err := <-f.ended:
		f.t.Fatalf("subscription ended: %v", err)
	case <-time.After(waitLimit):
		f.t.Fatal("no event within the wait limit")
	}
	return Event{}
}

// until returns the events up to and including the one for message id.
func (f *feed) until(id int64) []Event {
	f.t.Helper()
	var out []Event
	for {
		e := f.next()
		out = append(out, e)
		if e.Message.ID == id {
			return out
		}
	}
}

// texts lists events as "type:text".
func texts(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type+":"+e.Message.Text)
	}
	return out
}

func mustPost(t *testing.T, h *Hub, room string, v Viewer, text, to string) Message {
	t.Helper()
	m, err := h.Post(t.Context(), room, v, text, to)
	if err != nil {
		t.Fatalf("%s posts %q: %v", v.Identity, text, err)
	}
	return m
}

// eachBackend runs fn on SQLite and PostgreSQL with a running hub.
func eachBackend(t *testing.T, edit func(*Config), fn func(t *testing.T, db *storage.DB, h *Hub)) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		fn(t, db, startHub(t, db, edit))
	})
}
