package sfu

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"lectern/access"
)

// waitActive reads the publisher's events until a publish_layers event asks
// for exactly want, and returns how long that took.
func waitActive(t *testing.T, pub *Participant, timeout time.Duration, want ...string) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(timeout)
	var last []string
	for {
		select {
		case ev := <-pub.Events():
			if ev.Type != EventPublishLayers {
				continue
			}
			if ev.LocalTrack != "cam" {
				t.Errorf("publish_layers names local track %q, want the offer's %q", ev.LocalTrack, "cam")
			}
			last = ev.Active
			if slices.Equal(last, want) {
				return time.Since(start)
			}
		case <-deadline:
			var state string
			for _, tr := range pub.room.Tracks() {
				tr.dyn.mu.Lock()
				state += fmt.Sprintf(" track %s: sent %d, lower since %v, next check in %v;", tr.id, tr.dyn.sent, tr.dyn.lowerSince, time.Until(tr.dyn.next))
				tr.dyn.mu.Unlock()
				for _, s := range *tr.sinks.Load() {
					if d, ok := s.(*downTrack); ok {
						state += fmt.Sprintf(" %s wants %d;", d.sub.identity, d.wantedLayer(tr.layerCount()))
					}
				}
			}
			t.Fatalf("no publish_layers asking for %v within %v (last asked: %v; publisher closed: %q;%s)", want, timeout, last, pub.Reason(), state)
		}
	}
}

// TestDynacastPausesUnwatchedLayers: a publisher is asked to send only the
// layers its subscribers' tiles, manual choices and tiers can use; a new
// subscriber brings every layer back at once.
func TestDynacastPausesUnwatchedLayers(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("dyn", RoomOptions{Tier: access.HD})
	viewer := join(t, room, "viewer", (access.Subscribe | access.List))
	subscribe(t, viewer)
	host := join(t, room, "host", everyone)
	pub := publishSimulcast(t, host)
	stop := make(chan struct{})
	defer close(stop)
	go pub.pumpVideo(stop, layerRates)
	tracks := waitLayers(t, room, 3)
	id := tracks[0].ID()
	poll(t, 30*time.Second, "the viewer subscribed", func() bool { return viewer.down(id) != nil })

	// A thumbnail (180 of the HD tier's 720) needs only q: the others pause
	// once the wish has held for dynacastHold.
	if err := viewer.SetView(id, 320, 180); err != nil {
		t.Fatal(err)
	}
	took := waitActive(t, host, 30*time.Second, "q")
	if took < dynacastHold-dynacastEvery {
		t.Errorf("layers paused after %v, before the %v hold", took, dynacastHold)
	}
	// The lowest layer stops arriving for no one; the top one does.
	poll(t, 30*time.Second, "q still forwarded", func() bool { c, _ := viewer.down(id).layers(); return c == 0 })

	// A larger tile brings h back, without the hold.
	if err := viewer.SetView(id, 640, 360); err != nil {
		t.Fatal(err)
	}
	t.Logf("h back after %v", waitActive(t, host, 30*time.Second, "q", "h"))

	// A manual choice caps like a tile.
	if err := viewer.SetView(id, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := viewer.SetLayer(id, "h"); err != nil {
		t.Fatal(err)
	}
	// A second subscriber with no size yet wants the top layer.
	other := join(t, room, "other", (access.Subscribe | access.List))
	subscribe(t, other)
	t.Logf("f back for a new subscriber after %v", waitActive(t, host, 30*time.Second, "q", "h", "f"))

	// It leaves: h is all anyone takes again.
	other.Close("test over")
	waitActive(t, host, 30*time.Second, "q", "h")
}
