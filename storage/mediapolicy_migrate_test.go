package storage_test

import (
	"testing"

	"lectern/storage"
	"lectern/storage/storagetest"
)

// TestMigrationKeepsRoomsTakingEverything takes a store back to before
// migration 9 (the media policy), stores a room and a member as the previous
// release did, and migrates again: the room refuses nothing and the member
// has no extra sources.
func TestMigrationKeepsRoomsTakingEverything(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		ctx := t.Context()
		for _, q := range []string{
			`ALTER TABLE rooms DROP COLUMN refused_sources`,
			`ALTER TABLE rooms DROP COLUMN no_simulcast`,
			`ALTER TABLE members DROP COLUMN extra_sources`,
			`DELETE FROM schema_migrations WHERE version = 9`,
			`INSERT INTO rooms (id, name, mode, tier, pin, speaker_pin, broadcast_hls, broadcast_record, created_at, updated_at)
				VALUES ('old', 'Old', 'webinar', 'hd', '12345678', '1234567890', FALSE, FALSE, 1, 1)`,
			`INSERT INTO members (room_id, identity, name, permissions, tier, created_at, updated_at)
				VALUES ('old', 'alice', 'Alice', 'publish', '', 1, 1)`,
		} {
			if _, err := storage.Exec(ctx, db, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := storage.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		r, err := db.Room(ctx, "old")
		if err != nil || r.RefusedSources != "" || r.NoSimulcast {
			t.Errorf("room after the migration: %+v, %v; want it refusing nothing", r, err)
		}
		m, err := db.Member(ctx, "old", "alice")
		if err != nil || m.ExtraSources != "" {
			t.Errorf("member after the migration: %+v, %v", m, err)
		}
	})
}
