package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

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

// vp9Packet is a one-packet VP9 frame in non-flexible mode (I, L, B, E set;
// P for a delta frame) with a 15-bit picture ID, layer indices and a
// TL0PICIDX, ending with the layer's index.
func vp9Packet(seq uint16, pic uint16, tl0 uint8, key bool, layer byte) *rtp.Packet {
	b := byte(0xac) // I, L, B, E
	if !key {
		b |= 0x40 // P
	}
	p := []byte{b, 0x80 | byte(pic>>8)&0x7f, byte(pic), 0x00, tl0, 0x00, layer}
	return &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq, Timestamp: uint32(seq) * 450}, Payload: p}
}

// TestPicturesContinueAcrossSwitches: the layers number their pictures on
// their own, q far behind f (as a browser's encodings do once a layer has
// been paused); a subscriber moved from f to q gets picture IDs and
// TL0PICIDX that go on from f's, one per frame, and starts q at a keyframe.
// In VP8 and in VP9.
func TestPicturesContinueAcrossSwitches(t *testing.T) {
	for _, c := range []struct {
		mime   string
		packet func(seq, pic uint16, tl0 uint8, key bool, layer byte) *rtp.Packet
		fields pictureFields
		key    func([]byte) bool
	}{
		{webrtc.MimeTypeVP8, vp8Packet, vp8Fields, vp8Keyframe},
		{webrtc.MimeTypeVP9, vp9Packet, vp9Fields, vp9Keyframe},
	} {
		t.Run(c.mime, func(t *testing.T) {
			picturesContinue(t, c.mime, c.packet, c.fields, c.key)
		})
	}
}

func picturesContinue(t *testing.T, mime string, packet func(seq, pic uint16, tl0 uint8, key bool, layer byte) *rtp.Packet, fields pictureFields, keyframe func([]byte) bool) {
	s := newTestSFU(t)
	room, _ := s.Room("pictures", RoomOptions{Tier: access.FHD})
	sub := subscribe(t, join(t, room, "viewer", access.Subscribe|access.List))
	pub := publishSimulcastIn(t, join(t, room, "host", everyone), mime)
	stop := make(chan struct{})
	defer close(stop)
	picBase := [3]uint16{1000, 20000, 32700} // f wraps past 32767
	tl0Base := [3]uint8{10, 100, 250}
	go peertest.Tick(stop, 5*time.Millisecond, func(i int) {
		for li, tr := range pub.layers {
			pic := (picBase[li] + uint16(i)) & 0x7fff
			pub.send(tr, packet(uint16(i), pic, tl0Base[li]+uint8(i), i%10 == 0, byte(li)))
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
		pic, tl0, long := fields(p.Payload)
		ppic, ptl0, _ := fields(prev.Payload)
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
			if onQ == 0 && !keyframe(p.Payload) {
				t.Fatalf("the switch to q happened on a delta frame: %x", p.Payload)
			}
			onQ++
		}
		prev = p
	}
}

func FuzzPictureFields(f *testing.F) {
	f.Add([]byte{0x90, 0xc0, 0x80, 0x01, 0x05, 0x00})
	f.Add([]byte{0x90, 0x80, 0x7f})
	f.Add([]byte{0x90, 0x40})
	f.Add([]byte{0xac, 0x80, 0x01, 0x00, 0x05, 0x00})
	f.Add([]byte{0xb8, 0x7f})
	f.Fuzz(func(t *testing.T, p []byte) {
		for name, fields := range map[string]pictureFields{"vp8": vp8Fields, "vp9": vp9Fields} {
			pic, tl0, long := fields(p)
			if pic > 0 {
				if n := 1 + map[bool]int{true: 1}[long]; pic+n > len(p) {
					t.Fatalf("%s: picture ID at %d (long %v) past the end of %d bytes", name, pic, long, len(p))
				}
			}
			if tl0 >= len(p) && tl0 > 0 {
				t.Fatalf("%s: TL0PICIDX at %d past the end of %d bytes", name, tl0, len(p))
			}
			q := append([]byte(nil), p...)
			renumberPictures(fields, q, 12345, 7)
			renumberPictures(fields, q, (0x8000-12345)&0x7fff, 256-7)
			if string(q) != string(p) {
				t.Fatalf("%s: renumbering there and back changed %x to %x", name, p, q)
			}
		}
	})
}
