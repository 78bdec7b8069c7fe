package storage_test

import (
	"errors"
	"testing"
	"time"

	"lectern/storage"
	"lectern/storage/storagetest"
)

func TestRecordings(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		clock := newFakeClock()
		storage.SetClock(db, clock.Now)
		ctx := t.Context()

		start := clock.Now()
		first, err := db.CreateRecording(ctx, storage.Recording{ID: "rec-a", RoomID: "r", Status: storage.RecordingActive, StartedAt: start})
		if err != nil {
			t.Fatal(err)
		}
		if !first.EndedAt.IsZero() || first.StartedAt != stored(start) || first.CreatedAt != stored(clock.Now()) {
			t.Errorf("created %+v", first)
		}
		if _, err := db.CreateRecording(ctx, storage.Recording{ID: "rec-a", RoomID: "r", Status: storage.RecordingActive, StartedAt: start}); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("duplicate id: %v", err)
		}
		// Two later recordings, one in another room, one with the same start as another.
		for _, r := range []storage.Recording{
			{ID: "rec-b", RoomID: "r", Status: storage.RecordingActive, StartedAt: start.Add(time.Minute)},
			{ID: "rec-c", RoomID: "r", Status: storage.RecordingActive, StartedAt: start.Add(time.Minute)},
			{ID: "rec-x", RoomID: "other", Status: storage.RecordingActive, StartedAt: start},
		} {
			if _, err := db.CreateRecording(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		list, err := db.Recordings(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range list {
			ids = append(ids, r.ID)
		}
		if len(ids) != 3 || ids[0] != "rec-c" || ids[1] != "rec-b" || ids[2] != "rec-a" {
			t.Errorf("Recordings(r) = %v, want newest first [rec-c rec-b rec-a]", ids)
		}
		if none, err := db.Recordings(ctx, "nobody"); err != nil || none == nil || len(none) != 0 {
			t.Errorf("Recordings of an unknown room = %v, %v; want an empty slice", none, err)
		}

		up := first
		up.Status, up.EndedAt, up.Duration, up.SizeBytes, up.Location =
			storage.RecordingComplete, start.Add(90*time.Second), 90123*time.Millisecond, 1<<33, "s3://bucket/r/rec-a/"
		up.RoomID, up.StartedAt = "ignored", start.Add(time.Hour) // not written
		got, err := db.UpdateRecording(ctx, up)
		if err != nil {
			t.Fatal(err)
		}
		want := first
		want.Status, want.EndedAt, want.Duration, want.SizeBytes, want.Location =
			storage.RecordingComplete, stored(start.Add(90*time.Second)), 90123*time.Millisecond, 1<<33, "s3://bucket/r/rec-a/"
		if got != want {
			t.Errorf("UpdateRecording returned\n%+v, want\n%+v", got, want)
		}
		if again, err := db.Recording(ctx, "rec-a"); err != nil || again != want {
			t.Errorf("Recording = %+v, %v; want %+v", again, err, want)
		}

		if err := db.DeleteRecording(ctx, "rec-a"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Recording(ctx, "rec-a"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("deleted recording: %v", err)
		}
		if err := db.DeleteRecording(ctx, "rec-a"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("deleting again: %v", err)
		}
		if _, err := db.UpdateRecording(ctx, up); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("updating a deleted recording: %v", err)
		}
	})
}

func TestRecordingTakeOver(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		clock := newFakeClock()
		storage.SetClock(db, clock.Now)
		ctx := t.Context()
		const dead = 3 * time.Second
		for _, n := range []string{"a", "b"} {
			if _, err := db.Heartbeat(ctx, storage.Node{ID: n, URL: "http://" + n}); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range []storage.Recording{
			{ID: "rec-a", RoomID: "r", Status: storage.RecordingActive, StartedAt: clock.Now(), Node: "a"},
			{ID: "rec-b", RoomID: "r", Status: storage.RecordingActive, StartedAt: clock.Now(), Node: "b"},
			{ID: "rec-solo", RoomID: "r", Status: storage.RecordingActive, StartedAt: clock.Now()},
			{ID: "rec-done", RoomID: "r", Status: storage.RecordingComplete, StartedAt: clock.Now(), Node: "a"},
		} {
			if _, err := db.CreateRecording(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if o, err := db.OrphanRecordings(ctx, "c", dead); err != nil || len(o) != 0 {
			t.Fatalf("orphans while every node is live: %v, %v", o, err)
		}
		// A node's own unfinished recordings are listed to it.
		if o, err := db.OrphanRecordings(ctx, "b", dead); err != nil || len(o) != 1 || o[0].ID != "rec-b" {
			t.Fatalf("own recordings of b: %v, %v", o, err)
		}
		clock.Advance(2 * dead)
		if _, err := db.Heartbeat(ctx, storage.Node{ID: "b", URL: "http://b"}); err != nil {
			t.Fatal(err)
		}
		o, err := db.OrphanRecordings(ctx, "c", dead)
		if err != nil || len(o) != 1 || o[0].ID != "rec-a" || o[0].Node != "a" || o[0].Part != 0 {
			t.Fatalf("orphans of dead node a seen by c = %+v, %v; want rec-a only", o, err)
		}
		got, err := db.TakeOverRecording(ctx, o[0], "b")
		if err != nil || got.Node != "b" || got.Part != 1 || got.Status != storage.RecordingActive {
			t.Fatalf("take over = %+v, %v", got, err)
		}
		// A second node taking over from the same stale read loses.
		if _, err := db.TakeOverRecording(ctx, o[0], "c"); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("second take-over: %v, want ErrConflict", err)
		}
		// The old node's writes are refused and change nothing.
		stale := o[0]
		stale.Status = storage.RecordingComplete
		if _, err := db.UpdateRecording(ctx, stale); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("update by the old node: %v, want ErrConflict", err)
		}
		got.Status, got.Duration = storage.RecordingComplete, 5*time.Second
		if up, err := db.UpdateRecording(ctx, got); err != nil || up.Status != storage.RecordingComplete || up.Node != "b" || up.Part != 1 {
			t.Errorf("update by the new node = %+v, %v", up, err)
		}
		if _, err := db.TakeOverRecording(ctx, storage.Recording{ID: "nope", Node: "a"}, "b"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("take over of a missing recording: %v", err)
		}
		if o, err := db.OrphanRecordings(ctx, "c", dead); err != nil || len(o) != 0 {
			t.Errorf("orphans after the take-over: %v, %v", o, err)
		}
	})
}
