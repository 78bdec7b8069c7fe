package storage_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"lectern/storage"
	"lectern/storage/storagetest"
)

func TestGenerationBumpsOnEveryNarrowingChange(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		clock := newFakeClock()
		storage.SetClock(db, clock.Now)
		ctx := t.Context()
		if _, err := db.CreateRoom(ctx, storage.Room{ID: "r"}); err != nil {
			t.Fatal(err)
		}
		last := int64(-1)
		step := func(what string, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			g, err := db.Generation(ctx, "r")
			if err != nil {
				t.Fatal(err)
			}
			if g <= last {
				t.Errorf("after %s the generation is %d, want more than %d", what, g, last)
			}
			last = g
		}
		step("nothing", nil)
		_, err := db.CreateMember(ctx, storage.Member{RoomID: "r", Identity: "a", Permissions: "subscribe"})
		step("create member", err)
		_, err = db.UpdateMember(ctx, storage.Member{RoomID: "r", Identity: "a", Permissions: ""})
		step("update member", err)
		step("delete member", db.DeleteMember(ctx, "r", "a"))
		_, err = db.RevokeIdentity(ctx, "r", "b")
		step("revoke identity", err)
		step("ban", db.BanIdentity(ctx, "r", "c", clock.Now().Add(time.Hour)))
		step("delete room", db.DeleteRoom(ctx, "r"))
	})
}

func TestIdentityRevocation(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		clock := newFakeClock()
		storage.SetClock(db, clock.Now)
		ctx := t.Context()
		if _, err := db.CreateRoom(ctx, storage.Room{ID: "r"}); err != nil {
			t.Fatal(err)
		}
		if got, err := db.IdentityRevocation(ctx, "r", "a"); err != nil || got != (storage.IdentityRevocation{}) {
			t.Fatalf("before anything: %+v, %v; want zero", got, err)
		}
		if _, err := db.CreateMember(ctx, storage.Member{RoomID: "r", Identity: "a", Permissions: "subscribe"}); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteMember(ctx, "r", "a"); err != nil {
			t.Fatal(err)
		}
		got, err := db.IdentityRevocation(ctx, "r", "a")
		if err != nil || !got.RevokedAt.Equal(stored(clock.Now())) || !got.BannedUntil.IsZero() {
			t.Errorf("after deleting the member: %+v, %v; want revoked at %v", got, err, stored(clock.Now()))
		}
		until := clock.Now().Add(time.Hour)
		if err := db.BanIdentity(ctx, "r", "a", until); err != nil {
			t.Fatal(err)
		}
		got, err = db.IdentityRevocation(ctx, "r", "a")
		if err != nil || !got.BannedUntil.Equal(stored(until)) || got.RevokedAt.IsZero() {
			t.Errorf("after the ban: %+v, %v; want banned until %v, still revoked", got, err, stored(until))
		}
		if _, err := db.RevokeIdentity(ctx, "nope", "a"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("revoke in a missing room: %v, want ErrNotFound", err)
		}
		if err := db.BanIdentity(ctx, "nope", "a", until); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("ban in a missing room: %v, want ErrNotFound", err)
		}
	})
}

func TestRevokedTokensExpire(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		clock := newFakeClock()
		storage.SetClock(db, clock.Now)
		ctx := t.Context()
		g0, _ := db.Generation(ctx, storage.TokensScope)
		if err := db.RevokeToken(ctx, "t1", clock.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeToken(ctx, "t2", clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if g, _ := db.Generation(ctx, storage.TokensScope); g != g0+2 {
			t.Errorf("tokens generation %d, want %d", g, g0+2)
		}
		ids, err := db.RevokedTokens(ctx)
		slices.Sort(ids)
		if err != nil || !slices.Equal(ids, []string{"t1", "t2"}) {
			t.Errorf("RevokedTokens = %v, %v; want [t1 t2]", ids, err)
		}
		clock.Advance(2 * time.Minute)
		if ids, err := db.RevokedTokens(ctx); err != nil || !slices.Equal(ids, []string{"t2"}) {
			t.Errorf("after t1 expired: %v, %v; want [t2]", ids, err)
		}
	})
}
