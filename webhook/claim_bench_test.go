package webhook_test

import (
	"fmt"
	"testing"
	"time"

	"lectern/storage"
	"lectern/storage/storagetest"
)

// BenchmarkClaimBacklog measures a claim round while 100,000 events of 100
// rooms wait behind heads that are all in backoff (a receiver down).
func BenchmarkClaimBacklog(b *testing.B) {
	for _, be := range []storagetest.Backend{{Name: "sqlite", DataDir: b.TempDir()}, {Name: "postgres", DatabaseURL: storagetest.PostgresURL(b), DataDir: b.TempDir()}} {
		b.Run(be.Name, func(b *testing.B) {
			db := storagetest.Open(b, be)
			var evs []storage.WebhookEvent
			for i := range 100_000 {
				evs = append(evs, storage.WebhookEvent{ID: fmt.Sprint("e", i), Type: "t", RoomID: fmt.Sprint("room", i%100), Body: []byte(`{"type":"participant_joined","room":"x"}`)})
				if len(evs) == 1000 {
					if _, err := db.EnqueueWebhooks(b.Context(), evs, 1<<30); err != nil {
						b.Fatal(err)
					}
					evs = evs[:0]
				}
			}
			// Every room's head is in backoff: the claim finds nothing, as while a receiver is down.
			if heads, err := db.ClaimWebhooks(b.Context(), "n", 1000, time.Hour); err != nil || len(heads) != 100 {
				b.Fatalf("claimed %d heads, %v; want 100", len(heads), err)
			}
			for b.Loop() {
				if got, err := db.ClaimWebhooks(b.Context(), "n", 8, time.Minute); err != nil || len(got) != 0 {
					b.Fatalf("claimed %d, %v; want none", len(got), err)
				}
			}
		})
	}
}
