package storage_test

import (
	"errors"
	"testing"
	"time"

	"lectern/storage"
	"lectern/storage/storagetest"
)

func TestRoomRoundTrip(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		clock := newFakeClock()
		storage.SetClock(db, clock.Now)
		ctx := t.Context()

		in := storage.Room{
			ID: "town-hall", Name: "Town hall ✓", Mode: "webinar", Tier: "hd",
			PIN: "1234", SpeakerPIN: "98765", BroadcastHLS: true, BroadcastRecord: false,
			RefusedSources: "camera,screen", NoSimulcast: true,
			// Ignored: the store sets both.
			CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(2, 0),
		}
		created, err := db.CreateRoom(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		want := in
		want.App = storage.DefaultApp
		want.CreatedAt, want.UpdatedAt = stored(clock.Now()), stored(clock.Now())
		if created != want {
			t.Errorf("CreateRoom returned\n%+v, want\n%+v", created, want)
		}
		got, err := db.Room(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Room returned\n%+v, want\n%+v", got, want)
		}
		if got.CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt location = %v, want UTC", got.CreatedAt.Location())
		}

		clock.Advance(1500 * time.Millisecond)
		up := storage.Room{
			ID: in.ID, Name: "Renamed", Mode: "conference", Tier: "4k",
			PIN: "", SpeakerPIN: "1", BroadcastHLS: false, BroadcastRecord: true, Locked: true,
			CreatedAt: time.Unix(3, 0), // ignored
		}
		updated, err := db.UpdateRoom(ctx, up)
		if err != nil {
			t.Fatal(err)
		}
		want = up
		want.App = storage.DefaultApp
		want.CreatedAt, want.UpdatedAt = created.CreatedAt, stored(clock.Now())
		if updated != want {
			t.Errorf("UpdateRoom returned\n%+v, want\n%+v", updated, want)
		}
		if got, err := db.Room(ctx, in.ID); err != nil || got != want {
			t.Errorf("Room after update = %+v, %v; want %+v", got, err, want)
		}

		if err := db.DeleteRoom(ctx, in.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Room(ctx, in.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Room after delete: err = %v, want ErrNotFound", err)
		}
	})
}

func TestRoomErrors(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		ctx := t.Context()
		if _, err := db.CreateRoom(ctx, storage.Room{ID: "a", Name: "first"}); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			call func() error
			want error
		}{
			{"create existing", func() error { _, err := db.CreateRoom(ctx, storage.Room{ID: "a", Name: "second"}); return err }, storage.ErrConflict},
			{"get missing", func() error { _, err := db.Room(ctx, "missing"); return err }, storage.ErrNotFound},
			{"get other case", func() error { _, err := db.Room(ctx, "A"); return err }, storage.ErrNotFound},
			{"update missing", func() error { _, err := db.UpdateRoom(ctx, storage.Room{ID: "missing"}); return err }, storage.ErrNotFound},
			{"delete missing", func() error { return db.DeleteRoom(ctx, "missing") }, storage.ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := tt.call(); !errors.Is(err, tt.want) {
					t.Errorf("err = %v, want %v", err, tt.want)
				}
			})
		}
		if got, err := db.Room(ctx, "a"); err != nil || got.Name != "first" {
			t.Errorf("Room(a) = %+v, %v; want the first one, unchanged", got, err)
		}
	})
}

func TestRoomsOrder(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		clock := newFakeClock()
		storage.SetClock(db, clock.Now)
		ctx := t.Context()

		rooms, err := db.Rooms(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rooms == nil || len(rooms) != 0 {
			t.Errorf("Rooms of an empty store = %#v, want an empty non-nil slice", rooms)
		}

		// Created later but named first, and two created in the same
		// millisecond: created_at decides, then id in byte order.
		for _, step := range []struct {
			id      string
			advance time.Duration
		}{{"m", 0}, {"b", time.Millisecond}, {"_", 0}, {"Z", 0}, {"a", time.Hour}} {
			clock.Advance(step.advance)
			if _, err := db.CreateRoom(ctx, storage.Room{ID: step.id}); err != nil {
				t.Fatal(err)
			}
		}
		rooms, err = db.Rooms(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range rooms {
			ids = append(ids, r.ID)
		}
		want := []string{"m", "Z", "_", "b", "a"}
		if len(ids) != len(want) {
			t.Fatalf("Rooms = %q, want %q", ids, want)
		}
		for i := range want {
			if ids[i] != want[i] {
				t.Fatalf("Rooms = %q, want %q", ids, want)
			}
		}
		for _, r := range rooms {
			if one, err := db.Room(ctx, r.ID); err != nil || one != r {
				t.Errorf("Rooms has %+v, Room has %+v (%v)", r, one, err)
			}
		}
	})
}

func TestDeleteRoomCascades(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		ctx := t.Context()
		for _, id := range []string{"doomed", "kept"} {
			if _, err := db.CreateRoom(ctx, storage.Room{ID: id}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.CreateMember(ctx, storage.Member{RoomID: id, Identity: "alice"}); err != nil {
				t.Fatal(err)
			}
			if _, err := storage.Exec(ctx, db,
				`INSERT INTO messages (room_id, sender, text, created_at) VALUES ($1, 'alice', 'hello', 1)`, id); err != nil {
				t.Fatal(err)
			}
			if _, err := storage.Exec(ctx, db,
				`INSERT INTO recordings (id, room_id, status, started_at, created_at) VALUES ($1, $1, 'done', 1, 1)`, id); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.DeleteRoom(ctx, "doomed"); err != nil {
			t.Fatal(err)
		}

		if _, err := db.Member(ctx, "doomed", "alice"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("member of deleted room: err = %v, want ErrNotFound", err)
		}
		if _, err := db.Members(ctx, "doomed"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("members of deleted room: err = %v, want ErrNotFound", err)
		}
		if _, err := db.Member(ctx, "kept", "alice"); err != nil {
			t.Errorf("member of the other room: %v", err)
		}
		count := func(query, room string) int {
			t.Helper()
			var n int
			if err := storage.QueryRow(ctx, db, query, room).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, c := range []struct {
			query, room string
			want        int
		}{
			{`SELECT COUNT(*) FROM messages WHERE room_id = $1`, "doomed", 0},
			{`SELECT COUNT(*) FROM messages WHERE room_id = $1`, "kept", 1},
			// Recording metadata outlives its room.
			{`SELECT COUNT(*) FROM recordings WHERE room_id = $1`, "doomed", 1},
		} {
			if got := count(c.query, c.room); got != c.want {
				t.Errorf("%s [%s] = %d, want %d", c.query, c.room, got, c.want)
			}
		}
	})
}
