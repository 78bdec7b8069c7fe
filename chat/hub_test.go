package chat

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"lectern/access"
	"lectern/storage"
)

func TestRoomMessageReachesEveryone(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, db *storage.DB, h *Hub) {
		newRooms(t, db, map[string]string{"conf": "conference"})
		a, b, c := viewer("a", access.Member), viewer("b", access.Member), viewer("c", access.Member)
		fb, fc := subscribe(t, h, "conf", b, Latest), subscribe(t, h, "conf", c, Latest)
		fa := subscribe(t, h, "conf", a, Latest)

		m := mustPost(t, h, "conf", a, "hello ✓", "")
		if m.ID <= 0 || m.Seq != m.ID || m.From != "a" || m.FromName != "Name of a" || m.Kind != "message" {
			t.Errorf("ack = %+v", m)
		}
		for _, f := range []*feed{fa, fb, fc} {
			e := f.next()
			if e.Type != EventMessage || e.Message.ID != m.ID || e.Message.Text != "hello ✓" {
				t.Errorf("event = %+v, want the message", e)
			}
		}
		hist, err := h.History(t.Context(), "conf", b, 0, 10)
		if err != nil || len(hist) != 1 || hist[0].ID != m.ID {
			t.Errorf("history = %+v, %v", hist, err)
		}
		// A later subscriber starts with it.
		if e := subscribe(t, h, "conf", viewer("d", access.Member), Latest).next(); e.Message.ID != m.ID {
			t.Errorf("latest backlog = %+v", e)
		}
	})
}

func TestPermissions(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, db *storage.DB, h *Hub) {
		newRooms(t, db, map[string]string{"conf": "conference"})
		ctx := t.Context()
		if _, err := h.Post(ctx, "conf", viewer("v", access.Viewer), "hi", ""); !errors.Is(err, ErrNoSend) {
			t.Errorf("post without send: %v", err)
		}
		if _, err := h.Post(ctx, "conf", Viewer{Operator: true}, "hi", ""); !errors.Is(err, ErrNoIdentity) {
			t.Errorf("post as operator: %v", err)
		}
		deaf := viewer("deaf", access.Send)
		if _, err := h.Subscribe(ctx, "conf", deaf, Latest); !errors.Is(err, ErrNoReceive) {
			t.Errorf("subscribe without receive: %v", err)
		}
		if _, err := h.History(ctx, "conf", deaf, 0, 10); !errors.Is(err, ErrNoReceive) {
			t.Errorf("history without receive: %v", err)
		}
		// It may still post.
		mustPost(t, h, "conf", deaf, "I talk, I do not listen", "")
		if _, err := h.Post(ctx, "nope", viewer("a", access.Member), "hi", ""); !errors.Is(err, ErrRoomNotFound) {
			t.Errorf("post to a missing room: %v", err)
		}
		if _, err := h.Subscribe(ctx, "nope", viewer("a", access.Member), Latest); !errors.Is(err, ErrRoomNotFound) {
			t.Errorf("subscribe to a missing room: %v", err)
		}
		if _, err := h.Delete(ctx, "conf", viewer("a", access.Member), 1); !errors.Is(err, ErrNoModerate) {
			t.Errorf("deleting another's message: %v", err)
		}
		if _, err := h.Approve(ctx, "conf", viewer("a", access.Member), 1); !errors.Is(err, ErrNoModerate) {
			t.Errorf("approving without moderate: %v", err)
		}
	})
}

func TestDirectMessage(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, db *storage.DB, h *Hub) {
		newRooms(t, db, map[string]string{"conf": "conference"})
		a, b, c := viewer("a", access.Member), viewer("b", access.Member), viewer("c", access.Host)
		fa, fb, fc := subscribe(t, h, "conf", a, Latest), subscribe(t, h, "conf", b, Latest), subscribe(t, h, "conf", c, Latest)
		dm := mustPost(t, h, "conf", a, "for b only", "b")
		after := mustPost(t, h, "conf", a, "for all", "")
		if dm.To != "b" {
			t.Errorf("ack = %+v", dm)
		}
		want := []string{"message:for b only", "message:for all"}
		for name, f := range map[string]*feed{"a": fa, "b": fb} {
			if got := texts(f.until(after.ID)); !slices.Equal(got, want) {
				t.Errorf("%s got %v, want %v", name, got, want)
			}
		}
		// c, a moderator, never sees it: the next event is the public one.
		if got := texts(fc.until(after.ID)); !slices.Equal(got, want[1:]) {
			t.Errorf("c got %v, want %v", got, want[1:])
		}
		if hist, _ := h.History(t.Context(), "conf", c, 0, 10); len(hist) != 1 {
			t.Errorf("c's history = %+v", hist)
		}
		if hist, _ := h.History(t.Context(), "conf", Viewer{Operator: true}, 0, 10); len(hist) != 2 {
			t.Errorf("operator's history = %+v", hist)
		}
		if _, err := h.Delete(t.Context(), "conf", c, dm.ID); !errors.Is(err, ErrMessageNotFound) {
			t.Errorf("a moderator deleting a direct message it cannot see: %v", err)
		}
	})
}

func TestDeletePropagates(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, db *storage.DB, h *Hub) {
		newRooms(t, db, map[string]string{"conf": "conference"})
		a, b, mod := viewer("a", access.Member), viewer("b", access.Member), viewer("mod", access.Host)
		fb := subscribe(t, h, "conf", b, Latest)
		m1 := mustPost(t, h, "conf", a, "oops", "")
		m2 := mustPost(t, h, "conf", b, "rude", "")
		fb.until(m2.ID)

		// The sender deletes its own; a moderator deletes another's.
		d1, err := h.Delete(t.Context(), "conf", a, m1.ID)
		if err != nil || d1.DeletedAt == nil || d1.Text != "" || d1.Seq <= m2.Seq {
			t.Fatalf("delete own = %+v, %v", d1, err)
		}
		d2, err := h.Delete(t.Context(), "conf", mod, m2.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []Message{d1, d2} {
			e := fb.next()
			if e.Type != EventDelete || e.Message.ID != want.ID || e.Message.Seq != want.Seq || e.Message.Text != "" {
				t.Errorf("event = %+v, want the tombstone of %d", e, want.ID)
			}
		}
		if _, err := h.Delete(t.Context(), "conf", mod, m2.ID); !errors.Is(err, ErrWrongState) {
			t.Errorf("deleting twice: %v", err)
		}
		if _, err := h.Delete(t.Context(), "conf", mod, 987654); !errors.Is(err, ErrMessageNotFound) {
			t.Errorf("deleting a missing message: %v", err)
		}
		hist, _ := h.History(t.Context(), "conf", b, 0, 10)
		if len(hist) != 2 || hist[0].DeletedAt == nil || hist[1].DeletedAt == nil || hist[0].Text != "" {
			t.Errorf("history = %+v, want two tombstones", hist)
		}
	})
}

func TestResumeHasNoGapsOrDuplicates(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, db *storage.DB, h *Hub) {
		newRooms(t, db, map[string]string{"conf": "conference"})
		a, b, mod := viewer("a", access.Member), viewer("b", access.Member), viewer("mod", access.Host)
		f := subscribe(t, h, "conf", b, Latest)
		first := mustPost(t, h, "conf", a, "1", "")
		f.until(first.ID)
		f.sub.Close()
		last := first.Seq

		// Missed while away: messages, a deletion of an old one, a direct
		// message to someone else.
		mustPost(t, h, "conf", a, "2", "")
		mustPost(t, h, "conf", a, "secret", "mod")
		mustPost(t, h, "conf", a, "3", "")
		del, err := h.Delete(t.Context(), "conf", mod, first.ID)
		if err != nil {
			t.Fatal(err)
		}

		back := subscribe(t, h, "conf", b, last)
		live := mustPost(t, h, "conf", a, "4", "")
		var seqs []int64
		evs := back.until(live.ID)
		for _, e := range evs {
			seqs = append(seqs, e.Message.Seq)
		}
		if got, want := texts(evs), []string{"message:2", "message:3", "delete:", "message:4"}; !slices.Equal(got, want) {
			t.Errorf("resumed feed = %v, want %v", got, want)
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				t.Errorf("seqs %v are not strictly increasing", seqs)
			}
		}
		if evs[2].Message.Seq != del.Seq {
			t.Errorf("tombstone seq %d, want %d", evs[2].Message.Seq, del.Seq)
		}
		// Resuming from further than this process delivered skips nothing twice.
		ahead := subscribe(t, h, "conf", b, live.Seq)
		after := mustPost(t, h, "conf", a, "5", "")
		if got := texts(ahead.until(after.ID)); !slices.Equal(got, []string{"message:5"}) {
			t.Errorf("resumed at the head: %v", got)
		}
	})
}

// TestConcurrentPostersInOrder posts from many goroutines at once and checks
// that every subscriber gets every message once, in increasing seq order.
func TestConcurrentPostersInOrder(t *testing.T) {
	eachBackend(t, func(c *Config) { c.RateBurst = 1000 }, func(t *testing.T, db *storage.DB, h *Hub) {
		newRooms(t, db, map[string]string{"conf": "conference"})
		const posters, each = 8, 15
		feeds := []*feed{}
		for i := range 3 {
			feeds = append(feeds, subscribe(t, h, "conf", viewer(fmt.Sprint("r", i), access.Member), Latest))
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var last int64
		for p := range posters {
			wg.Go(func() {
				v := viewer(fmt.Sprint("p", p), access.Member)
				for i := range each {
					m, err := h.Post(t.Context(), "conf", v, fmt.Sprint(p, "-", i), "")
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					last = max(last, m.Seq)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for i, f := range feeds {
			var prev int64
			n := 0
			for prev != last {
				e := f.next()
				if e.Message.Seq <= prev {
					t.Fatalf("feed %d: seq %d after %d", i, e.Message.Seq, prev)
				}
				prev = e.Message.Seq
				n++
			}
			if n != posters*each {
				t.Errorf("feed %d got %d messages, want %d", i, n, posters*each)
			}
		}
	})
}

// TestEarlierAfterLatest: a subscription that starts from the latest
// messages says whether older ones may exist (a full page of Recent).
func TestEarlierAfterLatest(t *testing.T) {
	eachBackend(t, func(c *Config) { c.Recent = 3 }, func(t *testing.T, db *storage.DB, h *Hub) {
		newRooms(t, db, map[string]string{"few": "conference", "many": "conference"})
		ada := viewer("ada", access.Member)
		posted := map[string]int{"few": 2, "many": 5}
		for room, n := range posted {
			for i := range n {
				mustPost(t, h, room, ada, fmt.Sprint("message ", i), "")
			}
		}
		for room, want := range map[string]bool{"few": false, "many": true} {
			sub, err := h.Subscribe(t.Context(), room, ada, Latest)
			if err != nil {
				t.Fatal(err)
			}
			var got int
			for {
				f, err := sub.Backlog(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if len(f.Events) == 0 {
					break
				}
				got += len(f.Events)
			}
			if sub.Earlier() != want || got != min(3, posted[room]) {
				t.Errorf("room %s: backlog of %d, earlier %v; want earlier %v", room, got, sub.Earlier(), want)
			}
			sub.Close()
		}
	})
}
