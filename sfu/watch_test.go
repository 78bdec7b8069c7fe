package sfu

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"lectern/access"
)

// TestWatchSeesEveryRoom: one watcher sees participants join and leave and
// tracks come and go in every room, in order, and keeps no room alive.
func TestWatchSeesEveryRoom(t *testing.T) {
	s := newTestSFU(t)
	events := make(chan Event, 64)
	cancel := s.Watch(func(ev Event) { events <- ev })
	defer cancel()
	next := func() Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(30 * time.Second):
			t.Fatal("no event")
			return Event{}
		}
	}
	a, _ := s.Room("wa", RoomOptions{})
	b, _ := s.Room("wb", RoomOptions{})
	host := join(t, a, "host", everyone)
	if ev := next(); ev.Type != EventParticipantJoined || ev.Room != "wa" || ev.Participant.Identity != "host" {
		t.Fatalf("first event %+v", ev)
	}
	guest := join(t, b, "guest", access.Subscribe)
	if ev := next(); ev.Type != EventParticipantJoined || ev.Room != "wb" || ev.Participant.Identity != "guest" {
		t.Fatalf("second event %+v", ev)
	}
	pub := publishTracks(t, host, webrtc.MimeTypeVP8, SourceCamera)
	stop := make(chan struct{})
	go pub.pump(stop)
	pubEv := next()
	if pubEv.Type != EventTrackPublished || pubEv.Room != "wa" || pubEv.Track.Source != SourceCamera {
		t.Fatalf("third event %+v", pubEv)
	}
	close(stop)
	host.Close("done")
	if ev := next(); ev.Type != EventTrackUnpublished || ev.Track.ID != pubEv.Track.ID {
		t.Fatalf("after close %+v, want the track unpublished first", ev)
	}
	if ev := next(); ev.Type != EventParticipantLeft || ev.Room != "wa" || ev.Participant.Identity != "host" {
		t.Fatalf("after close %+v, want the host left", ev)
	}
	guest.Close("done")
	if ev := next(); ev.Type != EventParticipantLeft || ev.Room != "wb" {
		t.Fatalf("after the guest's close %+v", ev)
	}
	// Watched rooms are not kept: both empty rooms leave the registry.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, okA := s.LiveRoom("wa")
		_, okB := s.LiveRoom("wb")
		if !okA && !okB {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("watched empty rooms are still live")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
