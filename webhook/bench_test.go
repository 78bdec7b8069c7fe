package webhook_test

import (
	"io"
	"log/slog"
	"testing"

	"lectern/storage"
	"lectern/storage/storagetest"
	"lectern/webhook"
)

// BenchmarkEmit measures what an event costs the goroutine that emits it
// (a media or API goroutine) while the dispatcher stores events in SQLite
// behind it.
func BenchmarkEmit(b *testing.B) {
	r := newReceiver(b)
	r.setDown(true)
	db := storagetest.Open(b, storagetest.Backend{Name: "sqlite", DataDir: b.TempDir()})
	cfg := testConfig(r.srv.URL)
	cfg.Queue = 1 << 16
	d, err := webhook.New(cfg, db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	ev := webhook.Event{Type: webhook.TrackPublished, Room: "bench",
		Track: &webhook.Track{ID: "TR_x", Participant: "PA_y", Kind: "video", Source: "camera", Codec: "VP8"}}
	b.ReportAllocs()
	for b.Loop() {
		d.Emit(b.Context(), ev)
	}
}

// BenchmarkInsertOne is the alternative Emit did not take: one outbox
// insert (a SQLite transaction) per event, on the emitting goroutine.
func BenchmarkInsertOne(b *testing.B) {
	db := storagetest.Open(b, storagetest.Backend{Name: "sqlite", DataDir: b.TempDir()})
	body := []byte(`{"type":"track_published"}`)
	for b.Loop() {
		if _, err := db.EnqueueWebhooks(b.Context(), []storage.WebhookEvent{{ID: webhook.NewID(), Type: "t", RoomID: "bench", Body: body}}, 1<<30); err != nil {
			b.Fatal(err)
		}
	}
}
