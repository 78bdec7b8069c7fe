package cascade

import (
	"net"
	"testing"
	"time"

	"lectern/access"
	"lectern/sfu"
)

// TestEndClosesViewersAndStartsAfresh: End (what a fenced node calls) closes
// every edge's viewers with the reason given and the edge's pulls, and a
// later Acquire starts a new edge instead of handing out the ended one.
func TestEndClosesViewersAndStartsAfresh(t *testing.T) {
	origin, local := newSFU(t), newSFU(t)
	link := newLossyLink(t, origin.UDPAddr().(*net.UDPAddr), func([]byte) bool { return false })
	srv := whepOrigin(t, origin, link)
	edges, err := New(Config{Token: func(string, string) (string, error) { return "node", nil }, Loopback: true}, local, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(edges.Close)
	room, release, err := edges.Acquire(t.Context(), "talk", srv.URL, sfu.RoomOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	viewer, err := room.Join(sfu.ParticipantOptions{Identity: "viewer", Kind: sfu.KindWHEP, Permissions: access.Subscribe})
	if err != nil {
		t.Fatal(err)
	}

	const why = "this node stopped serving: connect again"
	edges.End(why)
	select {
	case <-viewer.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the edge's viewer is still open 10 s after End")
	}
	if got := viewer.Reason(); got != why {
		t.Errorf("the viewer was closed with %q, want %q", got, why)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(edges.Rooms()) > 0 || origin.Stats().Participants > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("10 s after End: edges %v, %d pulls still at the owner", edges.Rooms(), origin.Stats().Participants)
		}
		time.Sleep(20 * time.Millisecond) // polling the edges' teardown
	}

	again, release2, err := edges.Acquire(t.Context(), "talk", srv.URL, sfu.RoomOptions{})
	if err != nil {
		t.Fatalf("Acquire after End: %v", err)
	}
	defer release2()
	v2, err := again.Join(sfu.ParticipantOptions{Identity: "viewer-2", Kind: sfu.KindWHEP, Permissions: access.Subscribe})
	if err != nil {
		t.Fatalf("joining the new edge: %v", err)
	}
	select {
	case <-v2.Done():
		t.Fatalf("the new edge's viewer was closed: %s", v2.Reason())
	default:
	}
}
