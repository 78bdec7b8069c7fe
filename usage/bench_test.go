package usage_test

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"lectern/storage"
	"lectern/storage/storagetest"
	"lectern/usage"
)

// BenchmarkPlaylistRequested measures what counting one HLS media playlist
// request costs the request, with 5,000 viewers in the room, from parallel
// goroutines (the tracker's one mutex is the contended part).
func BenchmarkPlaylistRequested(b *testing.B) {
	db := storagetest.Open(b, storagetest.Backend{Name: "sqlite", DataDir: b.TempDir()})
	tr, err := usage.New(usage.DefaultConfig(), db, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 5000)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.0.%d.%d player", i/256, i%256)
		tr.PlaylistRequested("big", keys[i])
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			tr.PlaylistRequested("big", keys[i%len(keys)])
			i++
		}
	})
}

// BenchmarkFlushNewViewers measures one flush that writes 5,000 viewers who
// just arrived (5,000 entry rows and their session) on each backend.
func BenchmarkFlushNewViewers(b *testing.B) {
	for _, be := range []storagetest.Backend{{Name: "sqlite", DataDir: b.TempDir()}, {Name: "postgres", DatabaseURL: storagetest.PostgresURL(b), DataDir: b.TempDir()}} {
		b.Run(be.Name, func(b *testing.B) {
			db := storagetest.Open(b, be)
			if _, err := db.CreateRoom(b.Context(), storage.Room{ID: "big", Name: "Big", Mode: "webinar", Tier: "hd"}); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				b.StopTimer()
				tr, err := usage.New(usage.DefaultConfig(), db, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
				if err != nil {
					b.Fatal(err)
				}
				for i := range 5000 {
					tr.PlaylistRequested("big", fmt.Sprint("viewer ", i))
				}
				b.StartTimer()
				if err := tr.Flush(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
