package sfu

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"lectern/access"
)

func TestPublishCameraMicScreenToThreeSubscribers(t *testing.T) {
	s := newTestSFU(t)
	room, err := s.Room("r1", RoomOptions{Tier: access.HD})
	if err != nil {
		t.Fatal(err)
	}
	var subs []*testSubscriber
	for _, name := range []string{"a", "b", "c"} {
		subs = append(subs, subscribe(t, join(t, room, name, (access.Subscribe|access.List))))
	}
	host := join(t, room, "host", everyone)
	pub := publishTracks(t, host, webrtc.MimeTypeVP8, SourceCamera, SourceMicrophone, SourceScreen)
	stop := make(chan struct{})
	defer close(stop)
	go pub.pump(stop)
	for _, sub := range subs {
		sub.waitSources(5*time.Second, SourceCamera, SourceMicrophone, SourceScreen)
	}
	if got := len(room.Tracks()); got != 3 {
		t.Errorf("room has %d tracks, want 3", got)
	}
	if !subs[0].sawEvent(EventTrackPublished) || !subs[0].sawEvent(EventParticipantJoined) {
		t.Error("a subscriber with list saw no roster events")
	}
}

func TestAudienceCannotPublish(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("r2", RoomOptions{})
	viewer := join(t, room, "viewer", access.Subscribe)
	pc, _ := webrtc.NewPeerConnection(webrtc.Configuration{})
	defer pc.Close()
	pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	offer, _ := pc.CreateOffer(nil)
	if _, err := viewer.Publish(offer.SDP, nil); !errors.Is(err, ErrNoPublish) {
		t.Errorf("viewer publish: %v", err)
	}
}

// TestNACKIsAnsweredFromTheCache NACKs a packet the subscriber received and
// gets it again, from the track's cache.
func TestNACKIsAnsweredFromTheCache(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("nack", RoomOptions{})
	sub := subscribe(t, join(t, room, "sub", access.Subscribe))
	host := join(t, room, "host", everyone)
	pub := publishTracks(t, host, webrtc.MimeTypeVP8, SourceCamera)
	stop := make(chan struct{})
	defer close(stop)
	go pub.pump(stop)
	sub.waitSources(5*time.Second, SourceCamera)

	seq, ssrc := sub.lastVideo()
	before := s.Stats().Retransmitted
	if err := sub.pc.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: ssrc,
		Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{seq})}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for s.Stats().Retransmitted == before {
		select {
		case <-sub.got:
		case <-deadline:
			t.Fatal("the NACKed packet was not resent")
		}
	}
}

// TestMediaRooms: a room held open only by an observer (an idle broadcast
// program) has no media here; a participant gives it some, and EndRoom
// closes the participants but leaves the observer.
func TestMediaRooms(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("watched", RoomOptions{})
	cancel := room.Observe(func(Event) {})
	defer cancel()
	if _, ok := s.LiveRoom("watched"); !ok || s.HasMedia("watched") || len(s.MediaRooms()) != 0 {
		t.Fatalf("observed empty room: live %v, media %v, media rooms %v", ok, s.HasMedia("watched"), s.MediaRooms())
	}
	p := join(t, room, "guest", access.Subscribe)
	if !s.HasMedia("watched") || len(s.MediaRooms()) != 1 || s.MediaRooms()[0] != "watched" {
		t.Fatalf("with a participant: media %v, media rooms %v", s.HasMedia("watched"), s.MediaRooms())
	}
	s.EndRoom("watched", "moved")
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("EndRoom left the participant open")
	}
	if p.Reason() != "moved" || s.HasMedia("watched") {
		t.Errorf("after EndRoom: reason %q, media %v", p.Reason(), s.HasMedia("watched"))
	}
	if _, ok := s.LiveRoom("watched"); !ok {
		t.Error("EndRoom dropped the observer's room")
	}
}

// TestResendsRunOutAskForAKeyframe: a subscriber that keeps asking for a
// packet after its resends ran out (they were lost too) gets a keyframe
// requested for it from a publisher that sends them only when asked, instead
// of waiting until its decoder gives up.
func TestResendsRunOutAskForAKeyframe(t *testing.T) {
	room, pub := onDemandBroadcast(t, "gone")
	sub := subscribe(t, join(t, room, "sub", access.Subscribe))
	sub.waitSources(10*time.Second, SourceCamera)

	seq, ssrc := sub.lastVideo()
	nack := func() {
		t.Helper()
		if err := sub.pc.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: ssrc,
			Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{seq})}}); err != nil {
			t.Fatal(err)
		}
	}
	stats := room.sfu.Stats
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for !cond() {
			select {
			case <-sub.got:
			case <-deadline:
				t.Fatal(what)
			}
		}
	}
	start := stats()
	for i := range uint64(rtxLimit) {
		nack()
		waitFor(fmt.Sprintf("resend %d did not go out", i+1), func() bool { return stats().Retransmitted >= start.Retransmitted+i+1 })
		time.Sleep(rtxSpacing) // the least spacing between resends, not a synchronization
	}
	plis := pub.pliCount()
	time.Sleep(rtxGiveUp) // the give-up time under test, not a synchronization
	nack()
	waitFor("no keyframe was asked for the unrepairable packet", func() bool { return pub.pliCount() > plis })
	if got := stats().Retransmitted - start.Retransmitted; got != rtxLimit {
		t.Errorf("%d resends, want %d", got, rtxLimit)
	}
}
