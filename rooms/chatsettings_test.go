package rooms

import (
	"errors"
	"testing"
	"time"

	"lectern/access"
	"lectern/storage"
)

// TestSetChatSettingsOpensQuestions: turning questions on in a webinar lets
// its audience PIN post; a missing room is ErrRoomNotFound and changes nothing.
func TestSetChatSettingsOpensQuestions(t *testing.T) {
	db := openRoom(t)
	s := newTestService(t, db, time.Second)
	ctx := t.Context()
	if _, err := db.CreateRoom(ctx, storage.Room{ID: "w", Name: "W", Mode: ModeWebinar, Tier: "fhd", PIN: "1234"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetChatSettings(ctx, "missing", true, 5); !errors.Is(err, ErrRoomNotFound) {
		t.Fatalf("missing room: %v, want ErrRoomNotFound", err)
	}
	updated, err := s.SetChatSettings(ctx, "w", true, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !updated.ChatQuestions || updated.ChatSlowModeSeconds != 5 {
		t.Fatalf("updated: questions %t, slow mode %d; want true, 5", updated.ChatQuestions, updated.ChatSlowModeSeconds)
	}
	r, err := s.Room(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := PINPermissions(r, "1234"); !ok || !p.Has(access.Send) {
		t.Errorf("audience PIN with questions on: %v %t, want send", p, ok)
	}
}
