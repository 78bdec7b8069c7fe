package storage_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"lectern/storage"
	"lectern/storage/storagetest"
)

func TestOpenBackend(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		if got := db.Backend(); got != b.Name {
			t.Errorf("Backend() = %q, want %q", got, b.Name)
		}
		wantPath := ""
		if b.Name == "sqlite" {
			wantPath = filepath.Join(b.DataDir, "lectern.db")
		}
		if got := db.Path(); got != wantPath {
			t.Errorf("Path() = %q, want %q", got, wantPath)
		}
		if err := db.Ping(t.Context()); err != nil {
			t.Errorf("Ping: %v", err)
		}
		stats := db.Stats()
		if stats.MaxOpenConnections < 1 || stats.OpenConnections < 1 {
			t.Errorf("Stats() = %+v, want an open, bounded pool", stats)
		}
		if b.Name == "sqlite" && stats.MaxOpenConnections != 1 {
			t.Errorf("SQLite writer MaxOpenConnections = %d, want 1", stats.MaxOpenConnections)
		}
	})
}

func TestOpenCreatesDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "data")
	db := storagetest.Open(t, storagetest.Backend{Name: "sqlite", DataDir: dir})
	if db.Path() != filepath.Join(dir, "lectern.db") {
		t.Errorf("Path() = %q", db.Path())
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name, url, dataDir string
		wantInError        string
	}{
		{"unknown scheme", "mysql://root:hunter2@db:3306/lectern", t.TempDir(), `"mysql"`},
		{"sqlite scheme", "sqlite:///var/lib/lectern.db", t.TempDir(), `"sqlite"`},
		{"no scheme", "localhost/lectern", t.TempDir(), "no scheme"},
		{"user taken for scheme", "lectern:hunter2@localhost/lectern", t.TempDir(), `"lectern"`},
		{"no data dir", "", "", "data directory"},
		{"bad port", "postgres://lectern:hunter2@localhost:notaport/lectern", "", "invalid port"},
		{"bad option", "postgresql://lectern:hunter2@localhost/lectern?sslmode=bogus", "", "sslmode"},
		{"password in query", "postgres://localhost:notaport/lectern?password=hunter2", "", "invalid port"},
		{"unreachable", "postgres://lectern:hunter2@127.0.0.1:1/lectern?sslmode=disable", "", "connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := storage.Open(t.Context(), tt.url, tt.dataDir)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), tt.wantInError) {
				t.Errorf("error %q does not contain %q", err, tt.wantInError)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestCloseIdempotent(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db, err := storage.Open(t.Context(), b.DatabaseURL, b.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := db.Ping(t.Context()); err == nil {
			t.Error("Ping after Close succeeded")
		}
	})
}

// TestReopen closes a store and opens it again: everything is still there.
func TestReopen(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		ctx := t.Context()
		db := storagetest.Open(t, b)
		room, err := db.CreateRoom(ctx, storage.Room{ID: "r", Name: "kept", BroadcastHLS: true})
		if err != nil {
			t.Fatal(err)
		}
		member, err := db.CreateMember(ctx, storage.Member{RoomID: "r", Identity: "alice", Permissions: "publish"})
		if err != nil {
			t.Fatal(err)
		}
		key, err := db.CreateAPIKey(ctx, storage.APIKey{ID: "k", Name: "admin", Hash: []byte("hash")})
		if err != nil {
			t.Fatal(err)
		}
		secret, err := db.Secret(ctx, "s", func() ([]byte, error) { return []byte("value"), nil })
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		db = storagetest.Open(t, b)
		if got, err := db.Room(ctx, "r"); err != nil || got != room {
			t.Errorf("Room after reopen = %+v, %v; want %+v", got, err, room)
		}
		if got, err := db.Member(ctx, "r", "alice"); err != nil || got != member {
			t.Errorf("Member after reopen = %+v, %v; want %+v", got, err, member)
		}
		if got, err := db.APIKeyByHash(ctx, []byte("hash")); err != nil || got.ID != key.ID || got.CreatedAt != key.CreatedAt {
			t.Errorf("APIKeyByHash after reopen = %+v, %v; want %+v", got, err, key)
		}
		got, err := db.Secret(ctx, "s", func() ([]byte, error) { return nil, errors.New("generate called") })
		if err != nil || string(got) != string(secret) {
			t.Errorf("Secret after reopen = %q, %v; want %q", got, err, secret)
		}
	})
}

// TestOpenConcurrent starts several processes' worth of stores on one new
// database at once: they must not race each other's migrations.
func TestOpenConcurrent(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		const n = 4
		dbs := make([]*storage.DB, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { dbs[i], errs[i] = storage.Open(context.Background(), b.DatabaseURL, b.DataDir) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Errorf("Open %d: %v", i, errs[i])
				continue
			}
			t.Cleanup(func() { dbs[i].Close() })
		}
		if t.Failed() {
			return
		}
		if _, err := dbs[0].CreateRoom(t.Context(), storage.Room{ID: "r"}); err != nil {
			t.Fatal(err)
		}
		for i, db := range dbs {
			if _, err := db.Room(t.Context(), "r"); err != nil {
				t.Errorf("store %d does not see the room: %v", i, err)
			}
		}
	})
}

// TestPlaceholders checks that both drivers bind $N by number, out of order
// and repeated, which the package's SQL relies on.
func TestPlaceholders(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		var x, y, z string
		var n int64
		err := storage.QueryRow(t.Context(), db, `SELECT CAST($3 AS TEXT), CAST($1 AS TEXT), CAST($3 AS TEXT), CAST($2 AS BIGINT)`, "one", int64(2), "three").Scan(&x, &y, &z, &n)
		if err != nil {
			t.Fatal(err)
		}
		if x != "three" || y != "one" || z != "three" || n != 2 {
			t.Errorf("SELECT $3, $1, $3, $2 = %q, %q, %q, %d; want three, one, three, 2", x, y, z, n)
		}
	})
}
