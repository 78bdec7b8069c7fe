package storage_test

import (
	"errors"
	"testing"
	"time"

	"lectern/storage"
	"lectern/storage/storagetest"
)

func TestMemberRoundTrip(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		clock := newFakeClock()
		storage.SetClock(db, clock.Now)
		ctx := t.Context()
		if _, err := db.CreateRoom(ctx, storage.Room{ID: "r"}); err != nil {
			t.Fatal(err)
		}

		in := storage.Member{RoomID: "r", Identity: "alice@example.com", Name: "Alice Ω",
			Permissions: "publish,subscribe", Tier: "sd", ExtraSources: "screen,screen_audio", CreatedAt: time.Unix(5, 0)}
		created, err := db.CreateMember(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		want := in
		want.CreatedAt, want.UpdatedAt = stored(clock.Now()), stored(clock.Now())
		if created != want {
			t.Errorf("CreateMember returned\n%+v, want\n%+v", created, want)
		}
		if got, err := db.Member(ctx, "r", in.Identity); err != nil || got != want {
			t.Errorf("Member = %+v, %v; want %+v", got, err, want)
		}

		clock.Advance(time.Minute)
		up := storage.Member{RoomID: "r", Identity: in.Identity, Name: "Alice", Permissions: "subscribe", Tier: ""}
		updated, err := db.UpdateMember(ctx, up)
		if err != nil {
			t.Fatal(err)
		}
		want = up
		want.CreatedAt, want.UpdatedAt = created.CreatedAt, stored(clock.Now())
		if updated != want {
			t.Errorf("UpdateMember returned\n%+v, want\n%+v", updated, want)
		}
		if got, err := db.Member(ctx, "r", in.Identity); err != nil || got != want {
			t.Errorf("Member after update = %+v, %v; want %+v", got, err, want)
		}

		if err := db.DeleteMember(ctx, "r", in.Identity); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Member(ctx, "r", in.Identity); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Member after delete: err = %v, want ErrNotFound", err)
		}
		if _, err := db.Room(ctx, "r"); err != nil {
			t.Errorf("room after deleting its member: %v", err)
		}
	})
}

func TestMemberErrors(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		ctx := t.Context()
		for _, id := range []string{"r", "other"} {
			if _, err := db.CreateRoom(ctx, storage.Room{ID: id}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.CreateMember(ctx, storage.Member{RoomID: "r", Identity: "alice", Name: "first"}); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			call func() error
			want error
		}{
			{"create existing", func() error {
				_, err := db.CreateMember(ctx, storage.Member{RoomID: "r", Identity: "alice", Name: "second"})
				return err
			}, storage.ErrConflict},
			{"create in missing room", func() error {
				_, err := db.CreateMember(ctx, storage.Member{RoomID: "missing", Identity: "alice"})
				return err
			}, storage.ErrNotFound},
			{"get missing", func() error { _, err := db.Member(ctx, "r", "bob"); return err }, storage.ErrNotFound},
			{"get from other room", func() error { _, err := db.Member(ctx, "other", "alice"); return err }, storage.ErrNotFound},
			{"list missing room", func() error { _, err := db.Members(ctx, "missing"); return err }, storage.ErrNotFound},
			{"update missing", func() error {
				_, err := db.UpdateMember(ctx, storage.Member{RoomID: "r", Identity: "bob"})
				return err
			}, storage.ErrNotFound},
			{"update in missing room", func() error {
				_, err := db.UpdateMember(ctx, storage.Member{RoomID: "missing", Identity: "alice"})
				return err
			}, storage.ErrNotFound},
			{"delete missing", func() error { return db.DeleteMember(ctx, "r", "bob") }, storage.ErrNotFound},
			{"delete from other room", func() error { return db.DeleteMember(ctx, "other", "alice") }, storage.ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := tt.call(); !errors.Is(err, tt.want) {
					t.Errorf("err = %v, want %v", err, tt.want)
				}
			})
		}
		if got, err := db.Member(ctx, "r", "alice"); err != nil || got.Name != "first" {
			t.Errorf("Member(r, alice) = %+v, %v; want the first one, unchanged", got, err)
		}
	})
}

func TestMembersOrder(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		ctx := t.Context()
		for _, id := range []string{"r", "empty", "other"} {
			if _, err := db.CreateRoom(ctx, storage.Room{ID: id}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.CreateMember(ctx, storage.Member{RoomID: "other", Identity: "zed"}); err != nil {
			t.Fatal(err)
		}
		members, err := db.Members(ctx, "empty")
		if err != nil {
			t.Fatal(err)
		}
		if members == nil || len(members) != 0 {
			t.Errorf("Members of an empty room = %#v, want an empty non-nil slice", members)
		}

		// Byte order, whatever the database's locale: upper case before
		// '_' before lower case.
		for _, id := range []string{"bob", "alice", "_bot", "Carol", "alice2"} {
			if _, err := db.CreateMember(ctx, storage.Member{RoomID: "r", Identity: id, Permissions: "list"}); err != nil {
				t.Fatal(err)
			}
		}
		members, err = db.Members(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range members {
			ids = append(ids, m.Identity)
			if one, err := db.Member(ctx, "r", m.Identity); err != nil || one != m {
				t.Errorf("Members has %+v, Member has %+v (%v)", m, one, err)
			}
		}
		want := []string{"Carol", "_bot", "alice", "alice2", "bob"}
		if len(ids) != len(want) {
			t.Fatalf("Members = %q, want %q", ids, want)
		}
		for i := range want {
			if ids[i] != want[i] {
				t.Fatalf("Members = %q, want %q", ids, want)
			}
		}
	})
}
