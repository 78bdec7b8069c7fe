package storage_test

import (
	"crypto/sha256"
	"errors"
	"testing"

	"lectern/storage"
	"lectern/storage/storagetest"
)

func TestAPIKeys(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		clock := newFakeClock()
		storage.SetClock(db, clock.Now)
		ctx := t.Context()

		if n, err := db.APIKeyCount(ctx); err != nil || n != 0 {
			t.Fatalf("APIKeyCount of an empty store = %d, %v; want 0", n, err)
		}
		hash := func(secret string) []byte { h := sha256.Sum256([]byte(secret)); return h[:] }
		admin := storage.APIKey{ID: "k1", Operator: true, Name: "admin", Hash: hash("secret-1")}
		created, err := db.CreateAPIKey(ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		if created.ID != admin.ID || created.Name != admin.Name || string(created.Hash) != string(admin.Hash) ||
			!created.CreatedAt.Equal(stored(clock.Now())) {
			t.Errorf("CreateAPIKey returned %+v", created)
		}
		got, err := db.APIKeyByHash(ctx, hash("secret-1"))
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != created.ID || got.Name != created.Name || string(got.Hash) != string(created.Hash) ||
			got.CreatedAt != created.CreatedAt {
			t.Errorf("APIKeyByHash = %+v, want %+v", got, created)
		}

		tests := []struct {
			name string
			key  storage.APIKey
			want error
		}{
			{"duplicate id", storage.APIKey{ID: "k1", Operator: true, Name: "other", Hash: hash("secret-2")}, storage.ErrConflict},
			{"duplicate hash", storage.APIKey{ID: "k2", Operator: true, Name: "other", Hash: hash("secret-1")}, storage.ErrConflict},
			{"empty hash", storage.APIKey{ID: "k3", Operator: true, Name: "other"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := db.CreateAPIKey(ctx, tt.key)
				if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
					t.Errorf("err = %v, want %v", err, tt.want)
				}
			})
		}
		if _, err := db.APIKeyByHash(ctx, hash("secret-2")); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("APIKeyByHash(unknown): err = %v, want ErrNotFound", err)
		}

		if _, err := db.CreateAPIKey(ctx, storage.APIKey{ID: "k2", Operator: true, Name: "ci", Hash: hash("secret-2")}); err != nil {
			t.Fatal(err)
		}
		if got, err := db.APIKeyByHash(ctx, hash("secret-2")); err != nil || got.ID != "k2" {
			t.Errorf("APIKeyByHash(secret-2) = %+v, %v; want k2", got, err)
		}
		if n, err := db.APIKeyCount(ctx); err != nil || n != 2 {
			t.Errorf("APIKeyCount = %d, %v; want 2", n, err)
		}
	})
}
