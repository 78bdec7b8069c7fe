package sfu

import (
	"testing"
	"time"
)

// TestSameIdentityReplacesTheFirst: a second browser session of an identity
// replaces the first, which is told why; a session of another kind (an
// encoder with the same identity) stays.
func TestSameIdentityReplacesTheFirst(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("dup", RoomOptions{})
	first := join(t, room, "ada", everyone)
	encoder, err := room.Join(ParticipantOptions{Identity: "ada", Kind: KindWHIP, Permissions: everyone})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { encoder.Close("test over") })
	second := join(t, room, "ada", everyone)
	deadline := time.After(10 * time.Second)
	for told := false; !told; {
		select {
		case ev := <-first.Events():
			told = ev.Type == EventReplaced && ev.Reason != ""
		case <-deadline:
			t.Fatal("the first session was not told it was replaced")
		}
	}
	select {
	case <-first.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the first session did not close")
	}
	ps := room.ByIdentity("ada")
	if len(ps) != 2 || ps[0] != second || ps[1] != encoder {
		t.Errorf("ada's sessions: %v, want the second browser session and the encoder", ps)
	}
}
