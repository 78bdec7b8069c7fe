package program

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/hls/hlstest"
	"lectern/sfu"
)

// newTestSet returns an SFU on loopback and a program set on it, closed
// when the test ends.
func newTestSet(t *testing.T) (*sfu.SFU, *Set) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	media, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", Loopback: true}, log)
	if err != nil {
		t.Fatal(err)
	}
	set := NewSet(media, log)
	t.Cleanup(func() {
		set.Close()
		media.Close()
	})
	return media, set
}

// avLog is a Consumer that keeps every frame, video and audio.
type avLog struct {
	mu     sync.Mutex
	frames []*Frame
}

func (c *avLog) WriteFrame(f *Frame) {
	c.mu.Lock()
	c.frames = append(c.frames, f)
	c.mu.Unlock()
}

func (c *avLog) Idle() {}

// split returns the video and audio frames so far.
func (c *avLog) split() (video, audio []*Frame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.frames {
		if f.Kind == Video {
			video = append(video, f)
		} else {
			audio = append(audio, f)
		}
	}
	return video, audio
}

// pushedTrack is an encoder's track published with Push, as RTSP publishers'
// are: it cannot be asked for a keyframe.
type pushedTrack struct {
	t        *sfu.Track
	seq      uint16
	ssrc, ts uint32
}

func (p *pushedTrack) push(payloads [][]byte, ts uint32) {
	for i, pl := range payloads {
		p.t.Push(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: p.seq, Timestamp: p.ts + ts,
			SSRC: p.ssrc, Marker: i == len(payloads)-1}, Payload: pl})
		p.seq++
	}
}

// idrOf returns the IDR slice of an access unit (NAL units, or Annex-B).
func idrOf(au [][]byte) []byte {
	for _, n := range au {
		if h264.NALUType(n[0]&0x1f) == h264.NALUTypeIDR {
			return n
		}
	}
	return nil
}

// TestProgramStartsAtFirstKeyframe: an encoder that cannot be asked for
// keyframes publishes H.264 with a keyframe every second, and Opus, into a
// broadcasting room where nothing is on air. The program (what the HLS
// muxer, the recorder and every consumer get) starts at the encoder's first
// keyframe, not at the second one a keyframe interval later, with every frame
// from there on, and its audio starts with the picture.
//
// With keyframes closer together than the program's settle time (or a
// program that chooses late on a busy machine), it still starts at the first.
func TestProgramStartsAtFirstKeyframe(t *testing.T) {
	for _, gop := range []int{25, 5} {
		t.Run(fmt.Sprintf("gop%d", gop), func(t *testing.T) { testStartsAtFirstKeyframe(t, gop) })
	}
}

func testStartsAtFirstKeyframe(t *testing.T, gop int) {
	clip := hlstest.NewClipGOP(t, 640, 360, 2, "cam", gop) // keyframes at frames 0, gop, ...
	sound := hlstest.NewSound(t, 2, 440)
	media, set := newTestSet(t)
	if err := set.Hold("first", sfu.RoomOptions{Broadcast: true, Tier: access.FHD}); err != nil {
		t.Fatal(err)
	}
	var consumer avLog
	sub, err := set.Subscribe("first", &consumer)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	r, err := media.Room("first", sfu.RoomOptions{Broadcast: true, Tier: access.FHD})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := r.Join(sfu.ParticipantOptions{Identity: "enc", Kind: sfu.KindEncoder, Permissions: access.Publish})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close("test over")
	vt, err := enc.PublishTrack(sfu.TrackSpec{Kind: webrtc.RTPCodecTypeVideo, Source: sfu.SourceCamera, Codec: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "packetization-mode=1;profile-level-id=42e01f"}})
	if err != nil {
		t.Fatal(err)
	}
	at, err := enc.PublishTrack(sfu.TrackSpec{Kind: webrtc.RTPCodecTypeAudio, Source: sfu.SourceMicrophone,
		Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}})
	if err != nil {
		t.Fatal(err)
	}
	video := &pushedTrack{t: vt, ssrc: 1, ts: 3_000_000_000, seq: 65000}
	audio := &pushedTrack{t: at, ssrc: 2, ts: 4_000_000_000, seq: 100}

	// 1.6 s in real time: frames 0 to 39 and 80 Opus packets, on a schedule
	// locked to the clock (catching up after a stall, as an encoder does).
	const frames = 40
	var h264p codecs.H264Payloader
	start := time.Now()
	for k := 0; k < 2*frames; k++ {
		time.Sleep(time.Until(start.Add(time.Duration(k) * hlstest.PacketDuration)))
		audio.push([][]byte{sound.Packets[k%len(sound.Packets)]}, uint32(k*960))
		if k%2 == 0 {
			i := k / 2
			video.push(h264p.Payload(1200, clip.Frames[i]), uint32(i*90000/25))
		}
	}

	var vf, af []*Frame
	deadline := time.Now().Add(15 * time.Second)
	for {
		vf, af = consumer.split()
		// All frames, or the deadline: the last ones may still be on their
		// way through the program's queue when the pushing ends.
		if len(vf) >= frames && len(af) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(vf) == 0 || len(af) == 0 {
		t.Fatalf("the program emitted %d video and %d audio frames", len(vf), len(af))
	}
	first := idrOf(vf[0].AU)
	switch {
	case !vf[0].Keyframe || first == nil:
		t.Fatalf("the first frame is not a keyframe")
	case bytes.Contains(clip.Frames[gop], first):
		t.Fatalf("the program started at the second keyframe (frame %d), one keyframe interval late", gop)
	case !bytes.Contains(clip.Frames[0], first):
		t.Fatalf("the first frame is not the encoder's first keyframe")
	}
	if len(vf) != frames {
		t.Errorf("the program emitted %d video frames, want all %d from the first keyframe on", len(vf), frames)
	}
	for i := 1; i < len(vf); i++ {
		if d := vf[i].DTS - vf[i-1].DTS; d != 90000/25 {
			t.Errorf("frame %d: DTS step %d, want %d", i, d, 90000/25)
			break
		}
	}
	videoStart := Duration(vf[0].DTS, 90000)
	audioStart := Duration(af[0].DTS, af[0].Codec.ClockRate)
	if d := audioStart - videoStart; d < -50*time.Millisecond || d > 100*time.Millisecond {
		t.Errorf("audio starts %v after the picture, want within 0.1 s", d)
	}
}
