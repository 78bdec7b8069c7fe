package storage_test

import (
	"errors"
	"testing"

	"lectern/storage"
	"lectern/storage/storagetest"
)

func TestStreamKeys(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		ctx := t.Context()
		if _, err := db.CreateRoom(ctx, storage.Room{ID: "r", Name: "R", Mode: "conference", Tier: "hd", PIN: "1", SpeakerPIN: "2"}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.StreamKey(ctx, "r"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("no key yet: %v", err)
		}
		if _, err := db.SetStreamKey(ctx, "missing", "k"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("key for a missing room: %v", err)
		}
		first, err := db.SetStreamKey(ctx, "r", "key-1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.SetStreamKey(ctx, "r", "key-2"); err != nil {
			t.Fatal(err)
		}
		got, err := db.StreamKey(ctx, "r")
		if err != nil || got.Key != "key-2" || got.RoomID != "r" || got.CreatedAt.Before(first.CreatedAt) {
			t.Errorf("after rotation: %+v, %v", got, err)
		}
		if err := db.DeleteRoom(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.StreamKey(ctx, "r"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("key outlived its room: %v", err)
		}
		if err := db.DeleteStreamKey(ctx, "r"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("delete missing: %v", err)
		}
	})
}
