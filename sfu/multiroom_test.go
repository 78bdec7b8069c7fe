package sfu

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"lectern/access"
)

func TestPublishIntoSeveralRooms(t *testing.T) {
	s := newTestSFU(t)
	a, _ := s.Room("a", RoomOptions{})
	b, _ := s.Room("b", RoomOptions{})
	subA := subscribe(t, join(t, a, "sa", (access.Subscribe|access.List)))
	subB := subscribe(t, join(t, b, "sb", (access.Subscribe|access.List)))
	host := join(t, a, "host", everyone)
	pub := publishTracks(t, host, webrtc.MimeTypeVP8, SourceCamera)
	stop := make(chan struct{})
	defer close(stop)
	go pub.pump(stop)
	subA.waitSources(5*time.Second, SourceCamera)

	if err := host.SetTargets([]*Room{a, b}); err != nil {
		t.Fatal(err)
	}
	subB.waitSources(5*time.Second, SourceCamera)
	if len(b.Roster()) != 2 {
		t.Errorf("room b roster = %+v, want the guest publisher and sb", b.Roster())
	}

	// Leaving a (the publisher's own room) does not stop b.
	if err := host.SetTargets([]*Room{b}); err != nil {
		t.Fatal(err)
	}
	if len(a.Tracks()) != 0 {
		t.Fatalf("room a still carries %d tracks", len(a.Tracks()))
	}
	drainFor(subA, 100*time.Millisecond)
	stoppedA := subA.count(SourceCamera)
	beforeB := subB.count(SourceCamera)
	drainFor(subB, 300*time.Millisecond)
	if got := subA.count(SourceCamera); got != stoppedA {
		t.Errorf("room a still receives: %d -> %d packets", stoppedA, got)
	}
	if subB.count(SourceCamera) <= beforeB {
		t.Error("room b stopped receiving")
	}
}

// drainFor consumes packet notifications for d, so counts settle.
func drainFor(s *testSubscriber, d time.Duration) {
	end := time.After(d)
	for {
		select {
		case <-s.got:
		case <-end:
			return
		}
	}
}

// TestJoinLeaveLeavesNothing joins and leaves 100 participants, publishing and
// subscribing, and checks the goroutine count returns to where it was.
func TestJoinLeaveLeavesNothing(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("joins 100 participants (runs in CI, -short or not)")
	}
	s := newTestSFU(t)
	room, _ := s.Room("churn", RoomOptions{})
	host := join(t, room, "host", everyone)
	pub := publishTracks(t, host, webrtc.MimeTypeVP8, SourceCamera)
	stop := make(chan struct{})
	defer close(stop)
	go pub.pump(stop)
	warm := subscribe(t, join(t, room, "warm", access.Subscribe))
	warm.waitSources(5*time.Second, SourceCamera)
	base := runtime.NumGoroutine()

	for i := range 100 {
		p, err := room.Join(ParticipantOptions{Identity: "p", Kind: KindBrowser, Permissions: (access.Subscribe | access.List), AutoSubscribe: true})
		if err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			// Every tenth one negotiates media fully before leaving.
			sub := subscribeNoCleanup(t, p)
			sub.waitSources(5*time.Second, SourceCamera)
			p.Close("done")
			sub.close()
			continue
		}
		p.Close("done")
	}
	if got := len(room.Participants()); got != 2 {
		t.Fatalf("%d participants left in the room, want 2", got)
	}
	// pion ends some goroutines asynchronously after Close: poll until the
	// count is back to the baseline, or fail at the deadline.
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > base+5 {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after 100 joins and leaves", base, runtime.NumGoroutine())
		}
		<-tick.C
	}
}

func TestObserveSeesTracksComeAndGo(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("obs", RoomOptions{})
	events := make(chan Event, 16)
	cancel := room.Observe(func(ev Event) { events <- ev })
	defer cancel()
	host := join(t, room, "host", everyone)
	pub := publishTracks(t, host, webrtc.MimeTypeVP8, SourceCamera)
	stop := make(chan struct{})
	go pub.pump(stop)
	ev := <-events
	if ev.Type != EventTrackPublished || ev.Track.Source != SourceCamera {
		t.Fatalf("first event %+v", ev)
	}
	close(stop)
	host.Close("done")
	if ev2 := <-events; ev2.Type != EventTrackUnpublished || ev2.Track.ID != ev.Track.ID {
		t.Fatalf("second event %+v", ev2)
	}
	// The observed room outlives its last participant.
	if r, ok := s.LiveRoom("obs"); !ok || r != room {
		t.Error("the observed room was dropped")
	}
}
