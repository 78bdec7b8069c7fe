package rooms

import (
	"errors"
	"regexp"
	"testing"
	"time"
)

// TestStreamKeyRotation: a room starts without a key; a rotation makes one
// of 192 random bits that CheckStreamKey takes; the next rotation makes
// another and the old one stops working; deleting it leaves none; an
// unknown room is ErrRoomNotFound.
func TestStreamKeyRotation(t *testing.T) {
	s := newTestService(t, openRoom(t), time.Hour)
	ctx := t.Context()
	if _, err := s.StreamKeyOf(ctx, "r"); !errors.Is(err, ErrNoStreamKey) {
		t.Fatalf("a new room's stream key: %v", err)
	}
	first, err := s.RotateStreamKey(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^sk_[A-Za-z0-9_-]{32}$`).MatchString(first.Key) {
		t.Errorf("stream key %q is not sk_ and 32 base64url characters", first.Key)
	}
	if err := s.CheckStreamKey(ctx, "r", first.Key); err != nil {
		t.Errorf("the new key: %v", err)
	}
	second, err := s.RotateStreamKey(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if second.Key == first.Key {
		t.Fatal("a rotation kept the key")
	}
	if err := s.CheckStreamKey(ctx, "r", first.Key); !errors.Is(err, ErrWrongStreamKey) {
		t.Errorf("the old key after a rotation: %v", err)
	}
	if got, err := s.StreamKeyOf(ctx, "r"); err != nil || got.Key != second.Key {
		t.Errorf("StreamKeyOf = %q, %v; want the second key", got.Key, err)
	}
	if err := s.DeleteStreamKey(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteStreamKey(ctx, "r"); !errors.Is(err, ErrNoStreamKey) {
		t.Errorf("deleting twice: %v", err)
	}
	if err := s.CheckStreamKey(ctx, "r", second.Key); !errors.Is(err, ErrWrongStreamKey) {
		t.Errorf("a deleted key: %v", err)
	}
	if _, err := s.RotateStreamKey(ctx, "nope"); !errors.Is(err, ErrRoomNotFound) {
		t.Errorf("rotating an unknown room's key: %v", err)
	}
}
