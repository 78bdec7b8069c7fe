package storage_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"lectern/storage"
	"lectern/storage/storagetest"
)

func hook(id, room string) storage.WebhookEvent {
	return storage.WebhookEvent{ID: id, Type: "t", RoomID: room, Body: []byte(`{"id":"` + id + `"}`)}
}

func claimedIDs(evs []storage.WebhookEvent) []string {
	var ids []string
	for _, ev := range evs {
		ids = append(ids, ev.ID)
	}
	return ids
}

func TestWebhookOutbox(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		clock := newFakeClock()
		storage.SetClock(db, clock.Now)
		ctx := t.Context()

		n, err := db.EnqueueWebhooks(ctx, []storage.WebhookEvent{hook("a1", "a"), hook("a2", "a"), hook("b1", "b"), hook("a1", "a")}, 10)
		if err != nil || n != 4 {
			t.Fatalf("enqueue = %d, %v; want 4 (a repeated ID counts as stored)", n, err)
		}
		if backlog, _ := db.WebhookBacklog(ctx); backlog != 3 {
			t.Errorf("backlog %d, want 3 (the repeated ID is stored once)", backlog)
		}
		// Full: only what fits is stored, a prefix.
		if n, err := db.EnqueueWebhooks(ctx, []storage.WebhookEvent{hook("c1", "c"), hook("c2", "c")}, 4); err != nil || n != 1 {
			t.Errorf("enqueue into a nearly full outbox = %d, %v; want 1", n, err)
		}

		// Only the oldest event of each room is claimable.
		got, err := db.ClaimWebhooks(ctx, "n1", 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ids := claimedIDs(got); !slices.Equal(ids, []string{"a1", "b1", "c1"}) {
			t.Fatalf("claimed %v, want [a1 b1 c1]", ids)
		}
		if string(got[0].Body) != `{"id":"a1"}` || got[0].Type != "t" || got[0].RoomID != "a" || got[0].CreatedAt != stored(clock.Now()) {
			t.Errorf("claimed %+v", got[0])
		}
		// Claimed events are leased: nobody else gets them, nor the rooms' later ones.
		if again, _ := db.ClaimWebhooks(ctx, "n2", 10, time.Minute); len(again) != 0 {
			t.Errorf("second claim got %v, want nothing", claimedIDs(again))
		}
		// A failure waits for its next attempt; a delivery frees the room's next event.
		if err := db.RetryWebhook(ctx, got[0].Seq, 1, clock.Now().Add(time.Second), "503"); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteWebhook(ctx, got[1].Seq); err != nil {
			t.Fatal(err)
		}
		if again, _ := db.ClaimWebhooks(ctx, "n2", 10, time.Minute); len(again) != 0 {
			t.Errorf("claim before the retry is due got %v, want nothing", claimedIDs(again))
		}
		clock.Advance(time.Second)
		again, err := db.ClaimWebhooks(ctx, "n2", 10, time.Minute)
		if ids := claimedIDs(again); err != nil || !slices.Equal(ids, []string{"a1"}) {
			t.Fatalf("claim after the retry is due = %v, %v; want [a1]", ids, err)
		}
		if again[0].Attempts != 1 || again[0].LastError != "503" {
			t.Errorf("retried event %+v, want 1 attempt and its error", again[0])
		}
		// An expired lease (a node that died) frees the event.
		clock.Advance(2 * time.Minute)
		again, _ = db.ClaimWebhooks(ctx, "n3", 10, time.Minute)
		if ids := claimedIDs(again); !slices.Equal(ids, []string{"a1", "c1"}) {
			t.Errorf("claim after the leases ended = %v, want [a1 c1]", ids)
		}
	})
}

// TestWebhookClaimsConcurrent: nodes claiming at once never get the same
// event, and every event is claimed once.
func TestWebhookClaimsConcurrent(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		ctx := t.Context()
		var evs []storage.WebhookEvent
		for i := range 200 {
			evs = append(evs, hook(fmt.Sprint("e", i), fmt.Sprint("room", i)))
		}
		if _, err := db.EnqueueWebhooks(ctx, evs, 1000); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for node := range 4 {
			wg.Go(func() {
				for {
					got, err := db.ClaimWebhooks(ctx, fmt.Sprint("n", node), 7, time.Hour)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, ev := range got {
						seen[ev.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != 200 {
			t.Errorf("%d events claimed, want 200", len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%s claimed %d times", id, n)
			}
		}
	})
}

// TestWaitingWebhooks: the outbox as the console shows it, and a retry of
// every waiting event at once.
func TestWaitingWebhooks(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		clock := newFakeClock()
		storage.SetClock(db, clock.Now)
		ctx := t.Context()
		if _, err := db.EnqueueWebhooks(ctx, []storage.WebhookEvent{hook("a1", "a"), hook("a2", "a"), hook("b1", "b")}, 10); err != nil {
			t.Fatal(err)
		}
		got, err := db.ClaimWebhooks(ctx, "n1", 10, time.Minute)
		if err != nil || len(got) != 2 {
			t.Fatalf("claim: %v, %v", claimedIDs(got), err)
		}
		if err := db.RetryWebhook(ctx, got[0].Seq, 3, clock.Now().Add(time.Hour), "connection refused"); err != nil {
			t.Fatal(err)
		}
		waiting, err := db.WaitingWebhooks(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if ids := claimedIDs(waiting); !slices.Equal(ids, []string{"a1", "a2"}) {
			t.Fatalf("waiting %v, want the oldest two [a1 a2]", ids)
		}
		if w := waiting[0]; w.Attempts != 3 || w.LastError != "connection refused" || !w.NextAt.Equal(stored(clock.Now().Add(time.Hour))) {
			t.Errorf("a1 waiting: %+v", w)
		}
		if n, err := db.RetryWebhooksNow(ctx); err != nil || n != 1 {
			t.Errorf("retry now = %d, %v; want the one event waiting for a retry", n, err)
		}
		if again, _ := db.ClaimWebhooks(ctx, "n2", 10, time.Minute); !slices.Contains(claimedIDs(again), "a1") {
			t.Errorf("after retry now, claimed %v, want a1 among them", claimedIDs(again))
		}
	})
}
