package storage_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"lectern/storage"
	"lectern/storage/storagetest"
)

// migrations returns what schema_migrations records.
func migrations(t *testing.T, db *storage.DB) (count int, maxVersion int, lastApplied int64) {
	t.Helper()
	err := storage.QueryRow(t.Context(), db,
		`SELECT COUNT(*), COALESCE(MAX(version), 0), COALESCE(MAX(applied_at), 0) FROM schema_migrations`).
		Scan(&count, &maxVersion, &lastApplied)
	if err != nil {
		t.Fatal(err)
	}
	return count, maxVersion, lastApplied
}

// migrationFiles counts the backend's migration files and returns the
// highest version among them.
func migrationFiles(t *testing.T, backend string) (n, highest int) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("migrations", backend))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			t.Fatalf("migration file %s", e.Name())
		}
		n, highest = n+1, max(highest, v)
	}
	return n, highest
}

func TestMigrateIdempotent(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		count, version, applied := migrations(t, db)
		// Every file applied, numbered 1..n.
		files, highest := migrationFiles(t, b.Name)
		if count < 1 || count != files || version != highest || version != count {
			t.Fatalf("after Open: %d migrations up to version %d; want the %d files, up to %d", count, version, files, highest)
		}

		clock := newFakeClock()
		clock.Advance(100 * 365 * 24 * time.Hour) // any re-run would record this
		storage.SetClock(db, clock.Now)
		for range 2 {
			if err := storage.Migrate(t.Context(), db); err != nil {
				t.Fatalf("migrating again: %v", err)
			}
		}
		db.Close()

		db = storagetest.Open(t, b)
		c2, v2, a2 := migrations(t, db)
		if c2 != count || v2 != version || a2 != applied {
			t.Errorf("after migrating again and reopening: (%d, %d, %d), want unchanged (%d, %d, %d)",
				c2, v2, a2, count, version, applied)
		}
	})
}
