package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtp"

	"lectern/access"
	"lectern/internal/peertest"
)

// vp8Packet is a one-packet VP8 frame with a 15-bit picture ID and a
// TL0PICIDX, ending with the layer's index.
func vp8Packet(seq uint16, pic uint16, tl0 uint8, key bool, layer byte) *rtp.Packet {
	p := []byte{0x90, 0xc0, 0x80 | byte(pic>>8)&0x7f, byte(pic), tl0, 0x01, layer}
	if key {
		p = []byte{0x90, 0xc0, 0x80 | byte(pic>>8)&0x7f, byte(pic), tl0, 0x00, 0x9d, layer}
	}
	return &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq, Timestamp: uint32(seq) * 450}, Payload: p}
}

// TestVP8PicturesContinueAcrossSwitches: the layers number their pictures on
// their own, q far behind f (as a browser's encodings do once a layer has
// been paused); a subscriber moved from f to q gets picture IDs and
// TL0PICIDX that go on from f's, one per frame, and starts q at a keyframe.
func TestVP8PicturesContinueAcrossSwitches(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("vp8", RoomOptions{Tier: access.FHD})
	sub := subscribe(t, join(t, room, "viewer", access.Subscribe|access.List))
	pub := publishSimulcast(t, join(t, room, "host", everyone))
	stop := make(chan struct{})
	defer close(stop)
	picBase := [3]uint16{1000, 20000, 32700} // f wraps past 32767
	tl0Base := [3]uint8{10, 100, 250}
	go peertest.Tick(stop, 5*time.Millisecond, func(i int) {
		for li, tr := range pub.layers {
			pic := (picBase[li] + uint16(i)) & 0x7fff
			pub.send(tr, vp8Packet(uint16(i), pic, tl0Base[li]+uint8(i), i%10 == 0, byte(li)))
		}
	})
	tracks := waitLayers(t, room, 3)
	next := func() *rtp.Packet {
		t.Helper()
		for {
			select {
			case p := <-sub.video:
				if len(p.Payload) > 0 {
					return p
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no video packet within 10 s")
			}
		}
	}
	layerOf := func(p *rtp.Packet) byte { return p.Payload[len(p.Payload)-1] }
	// Steady on f.
	var prev *rtp.Packet
	for run := 0; run < 20; {
		if prev = next(); layerOf(prev) == 2 {
			run++
		} else {
			run = 0
		}
	}
	if err := sub.p.SetLayer(tracks[0].ID(), "q"); err != nil {
		t.Fatal(err)
	}
	onQ := 0
	for onQ < 30 {
		p := next()
		pic, tl0, long := vp8Fields(p.Payload)
		ppic, ptl0, _ := vp8Fields(prev.Payload)
		if pic == 0 || tl0 == 0 || !long {
			t.Fatalf("descriptor lost its numbers: %x", p.Payload)
		}
		frames := p.SequenceNumber - prev.SequenceNumber
		if got := (readPic(p.Payload, pic, true) - readPic(prev.Payload, ppic, true)) & 0x7fff; got != frames {
			t.Fatalf("picture ID moved by %d over %d frames (layer %d after %d): %x after %x", got, frames, layerOf(p), layerOf(prev), p.Payload, prev.Payload)
		}
		if got := p.Payload[tl0] - prev.Payload[ptl0]; uint16(got) != frames&0xff {
			t.Fatalf("TL0PICIDX moved by %d over %d frames (layer %d after %d)", got, frames, layerOf(p), layerOf(prev))
		}
		if layerOf(p) == 0 {
			if onQ == 0 && !vp8Keyframe(p.Payload) {
				t.Fatalf("the switch to q happened on a delta frame: %x", p.Payload)
			}
			onQ++
		}
		prev = p
	}
}

func FuzzVP8Fields(f *testing.F) {
	f.Add([]byte{0x90, 0xc0, 0x80, 0x01, 0x05, 0x00})
	f.Add([]byte{0x90, 0x80, 0x7f})
	f.Add([]byte{0x90, 0x40})
	f.Fuzz(func(t *testing.T, p []byte) {
		pic, tl0, long := vp8Fields(p)
		if pic > 0 {
			if n := 1 + map[bool]int{true: 1}[long]; pic+n > len(p) {
				t.Fatalf("picture ID at %d (long %v) past the end of %d bytes", pic, long, len(p))
			}
		}
		if tl0 >= len(p) && tl0 > 0 {
			t.Fatalf("TL0PICIDX at %d past the end of %d bytes", tl0, len(p))
		}
		q := append([]byte(nil), p...)
		renumberVP8(q, 12345, 7)
		renumberVP8(q, (0x8000-12345)&0x7fff, 256-7)
		if string(q) != string(p) {
			t.Fatalf("renumbering there and back changed %x to %x", p, q)
		}
	})
}
