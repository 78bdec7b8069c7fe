package storage_test

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"lectern/storage"
	"lectern/storage/storagetest"
)

// previousRelease empties db and migrates it to version 9, the schema of the
// release before apps.
func previousRelease(t *testing.T, db *storage.DB) {
	t.Helper()
	ctx := t.Context()
	if err := storage.ResetSchemaTo(ctx, db, 9); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := storage.QueryRow(ctx, db, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != 9 {
		t.Fatalf("%d migrations applied (%v), want 9", n, err)
	}
}

// TestMigrationPutsAnInstallationInTheDefaultApp makes a database as the
// release before apps left it (migrations 1-9), stores rows in their old
// shape, migrates to the latest version and checks that everything is in
// the app "default": the rooms and their rows keep their keys, and the
// admin key becomes the operator key.
func TestMigrationPutsAnInstallationInTheDefaultApp(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		ctx := t.Context()
		previousRelease(t, db)
		if _, err := storage.Exec(ctx, db, `SELECT app_id FROM rooms`); err == nil {
			t.Fatal("the previous release's rooms have app_id")
		}
		hash := sha256.Sum256([]byte("lk_the-old-admin-key"))
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO rooms (id, name, mode, tier, pin, speaker_pin, broadcast_hls, broadcast_record, created_at, updated_at)
				VALUES ('standup', 'Standup', 'conference', 'hd', '12345678', '1234567890', TRUE, FALSE, 1, 1)`, nil},
			{`INSERT INTO members (room_id, identity, name, permissions, tier, created_at, updated_at)
				VALUES ('standup', 'alice', 'Alice', 'publish,subscribe', '', 1, 1)`, nil},
			{`INSERT INTO api_keys (id, name, hash, created_at) VALUES ('k1', 'admin (generated)', $1, 1)`, []any{hash[:]}},
			{`INSERT INTO stream_keys (room_id, stream_key, created_at) VALUES ('standup', 'sk_old', 1)`, nil},
			{`INSERT INTO recordings (id, room_id, status, started_at, size_bytes, created_at) VALUES ('r1', 'standup', 'done', 1, 1234, 1)`, nil},
		} {
			if _, err := storage.Exec(ctx, db, q.sql, q.args...); err != nil {
				t.Fatalf("%s: %v", q.sql, err)
			}
		}
		if _, err := db.InsertMessages(ctx, []storage.NewMessage{{RoomID: "standup", Sender: "alice", Kind: "message", Text: "hello", CreatedAt: time.UnixMilli(1)}}); err != nil {
			t.Fatal(err)
		}

		if err := storage.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}

		app, err := db.App(ctx, storage.DefaultApp)
		if err != nil || app.MaxRooms != nil || app.MaxParticipants != nil || app.MaxHLSViewers != nil || app.MaxRecordingBytes != nil {
			t.Fatalf("default app after the migration: %+v, %v; want it without limits", app, err)
		}
		if since := time.Since(app.CreatedAt); since < 0 || since > time.Hour {
			t.Errorf("default app made at %v; want the time of the upgrade", app.CreatedAt)
		}
		r, err := db.Room(ctx, "standup")
		if err != nil || r.App != storage.DefaultApp || r.Name != "Standup" || !r.BroadcastHLS {
			t.Errorf("room after the migration: %+v, %v", r, err)
		}
		rs, err := db.AppRooms(ctx, storage.DefaultApp)
		if err != nil || len(rs) != 1 || rs[0].ID != "standup" {
			t.Errorf("rooms of the default app: %+v, %v", rs, err)
		}
		k, err := db.APIKeyByHash(ctx, hash[:])
		if err != nil || !k.Operator || k.App != storage.DefaultApp {
			t.Errorf("the old admin key after the migration: %+v, %v; want an operator key of the default app", k, err)
		}
		if n, err := db.APIKeyCount(ctx); err != nil || n != 1 {
			t.Errorf("operator keys: %d, %v; want 1 (no new admin key is made at start)", n, err)
		}
		if m, err := db.Member(ctx, "standup", "alice"); err != nil || m.Name != "Alice" {
			t.Errorf("member after the migration: %+v, %v", m, err)
		}
		if sk, err := db.StreamKey(ctx, "standup"); err != nil || sk.Key != "sk_old" {
			t.Errorf("stream key after the migration: %+v, %v", sk, err)
		}
		if msgs, err := db.History(ctx, "standup", storage.MessageFilter{All: true}, 0, 10); err != nil || len(msgs) != 1 {
			t.Errorf("chat after the migration: %+v, %v", msgs, err)
		}
		if n, err := db.AppRecordingBytes(ctx, storage.DefaultApp); err != nil || n != 1234 {
			t.Errorf("recording bytes of the default app: %d, %v; want 1234", n, err)
		}
		// A new app's rooms live beside the default app's, same ID or not.
		if _, err := db.CreateApp(ctx, storage.App{ID: "acme", Name: "Acme"}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateRoom(ctx, storage.Room{ID: storage.RoomKey("acme", "standup"), App: "acme", Name: "Acme standup", Mode: "conference", Tier: "hd"}); err != nil {
			t.Fatal(err)
		}
		if rs, err := db.AppRooms(ctx, storage.DefaultApp); err != nil || len(rs) != 1 {
			t.Errorf("rooms of the default app after acme made one: %+v, %v", rs, err)
		}
		if n, err := db.AppRecordingBytes(ctx, "acme"); err != nil || n != 0 {
			t.Errorf("recording bytes of acme: %d, %v; want 0", n, err)
		}
		if err := db.DeleteApp(ctx, "acme"); !errors.Is(err, storage.ErrAppNotEmpty) {
			t.Errorf("deleting an app with rooms: %v, want ErrAppNotEmpty", err)
		}
		if err := db.DeleteRoom(ctx, storage.RoomKey("acme", "standup")); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateRecording(ctx, storage.Recording{ID: "r2", RoomID: "acme~standup", Status: storage.RecordingComplete, StartedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteApp(ctx, "acme"); !errors.Is(err, storage.ErrAppNotEmpty) {
			t.Errorf("deleting an app with recordings of a deleted room: %v, want ErrAppNotEmpty", err)
		}
		if err := db.DeleteRecording(ctx, "r2"); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteApp(ctx, "acme"); err != nil {
			t.Errorf("deleting an empty app: %v", err)
		}
		if _, err := db.App(ctx, "acme"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the deleted app: %v, want ErrNotFound", err)
		}
	})
}
