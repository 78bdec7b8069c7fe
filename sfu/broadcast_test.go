package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/internal/peertest"
)

// TestAudioLevelID: a publisher that offers the audio-level extension (RFC
// 6464) gets its ID back from Track.AudioLevelID, and sinks see the extension
// in the packets they are handed.
func TestAudioLevelID(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("lvl", RoomOptions{Broadcast: true})
	published := make(chan string, 4)
	defer room.Observe(func(ev Event) {
		if ev.Type == EventTrackPublished {
			published <- ev.Track.ID
		}
	})()
	host := join(t, room, "host", everyone)

	pc := peertest.NewPeer(t, levelAPI(t), webrtc.Configuration{})
	mic, sender := peertest.SendTrack(t, pc, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "s")
	publishOn(t, host, pc, map[string]string{"mic": SourceMicrophone})
	id := peertest.ExtensionID(sender, audioLevelURI)
	if id == 0 {
		t.Fatal("the audio level extension was not negotiated")
	}
	stop := make(chan struct{})
	defer close(stop)
	go peertest.Tick(stop, 20*time.Millisecond, func(i int) {
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 960}, Payload: []byte{0xfc, 0xff, 0xfe}}
		pkt.Header.SetExtension(id, []byte{0x80 | 30})
		mic.WriteRTP(pkt)
	})
	var trackID string
	select {
	case trackID = <-published:
	case <-time.After(10 * time.Second):
		t.Fatal("the microphone was not published")
	}
	tr, _ := room.Track(trackID)
	if got := tr.AudioLevelID(); got != id {
		t.Fatalf("AudioLevelID = %d, the publisher sends %d", got, id)
	}
	levels := make(chan byte, 1)
	sink := &sinkFunc{fn: func(pkt *rtp.Packet, _ int, _ bool) {
		if ext := pkt.Header.GetExtension(id); len(ext) > 0 {
			select {
			case levels <- ext[0]:
			default:
			}
		}
	}}
	tr.AddSink(sink)
	defer tr.RemoveSink(sink)
	select {
	case l := <-levels:
		if l != 0x80|30 {
			t.Errorf("level byte %#x, want %#x", l, 0x80|30)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no packet with the audio level reached the sink")
	}
}

// sinkFunc adapts a function to Sink (a pointer, so that RemoveSink finds it).
type sinkFunc struct {
	fn func(pkt *rtp.Packet, layer int, keyframe bool)
}

func (f *sinkFunc) WriteRTP(pkt *rtp.Packet, layer int, keyframe bool) { f.fn(pkt, layer, keyframe) }
