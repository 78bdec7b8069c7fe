package hls

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"lectern/hls/hlstest"
	"lectern/internal/peertest"
	"lectern/program"
	"lectern/sfu"
)

// frameLog is a consumer that keeps the video frames it is given.
type frameLog struct {
	mu     sync.Mutex
	frames []*program.Frame
}

func (l *frameLog) WriteFrame(f *program.Frame) {
	if f.Kind == program.Video {
		l.mu.Lock()
		l.frames = append(l.frames, f)
		l.mu.Unlock()
	}
}

func (l *frameLog) Idle() {}

func (l *frameLog) snapshot() []*program.Frame {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*program.Frame(nil), l.frames...)
}

// TestSwitchWaitsForParameterSets switches from a camera to a screen whose
// first keyframe after the switch comes without its SPS and PPS (as when that
// packet is lost). The screen must not go on air described by the camera's
// parameter sets, which decoders turn into garbage: the camera goes on until
// a keyframe of the screen brings its own, and then the screen goes on air.
func TestSwitchWaitsForParameterSets(t *testing.T) {
	camClip := hlstest.NewClip(t, 640, 360, 2, "cam")
	screenClip := hlstest.NewClip(t, 1280, 720, 2, "screen")
	b := newTestBroadcast(t, DefaultConfig())
	host := b.room("ps")
	h264 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "packetization-mode=1"}
	camera, err := host.PublishTrack(sfu.TrackSpec{Kind: webrtc.RTPCodecTypeVideo, Codec: h264, Source: sfu.SourceCamera})
	if err != nil {
		t.Fatal(err)
	}
	screen, err := host.PublishTrack(sfu.TrackSpec{Kind: webrtc.RTPCodecTypeVideo, Codec: h264, Source: sfu.SourceScreen})
	if err != nil {
		t.Fatal(err)
	}
	// strip is how many of the screen's next keyframes lose their parameter
	// sets. The pushing goroutine arms it when asked (arm), between two
	// frames, and answers with the time: whatever it pushed before is in.
	var strip atomic.Int32
	arm := make(chan chan time.Time)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pushClips(stop, []*sfu.Track{camera, screen}, []*hlstest.Clip{camClip, screenClip}, func(track int, au []byte) []byte {
			select {
			case reply := <-arm:
				strip.Store(1)
				reply <- time.Now()
			default:
			}
			if track == 1 && hasIDR(au) && strip.Load() > 0 {
				strip.Add(-1)
				return withoutParams(au)
			}
			return au
		})
	}()
	defer func() { close(stop); wg.Wait() }()
	b.waitLive("ps")

	log := &frameLog{}
	sub, err := b.progs.Subscribe("ps", log)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// The switch is asked once the program has taken every frame pushed
	// before the strip was armed (a camera frame that came after it is
	// out): a screen keyframe with its parameter sets still queued would
	// otherwise take the switch first.
	reply := make(chan time.Time)
	arm <- reply
	armed := <-reply
	deadline := time.After(10 * time.Second)
	for poll := time.NewTicker(20 * time.Millisecond); !cameraSince(log, camera.ID(), armed); {
		select {
		case <-poll.C:
		case <-deadline:
			t.Fatal("no camera frame within 10 s of arming the strip")
		}
	}
	if err := b.svc.SetOnAir("ps", program.OnAir{Video: screen.ID()}); err != nil {
		t.Fatal(err)
	}
	screenFrames := func() int {
		n := 0
		for _, f := range log.snapshot() {
			if f.Source == screen.ID() {
				n++
			}
		}
		return n
	}
	deadline = time.After(10 * time.Second)
	for poll := time.NewTicker(20 * time.Millisecond); screenFrames() < 10; {
		select {
		case <-poll.C:
		case <-deadline:
			t.Fatalf("%d frames of the screen within 10 s", screenFrames())
		}
	}
	if strip.Load() != 0 {
		t.Fatal("the screen's stripped keyframe was never sent")
	}
	frames := log.snapshot()
	var last time.Time
	sawScreen := false
	for _, f := range frames {
		w, h := f.Codec.Resolution()
		switch f.Source {
		case camera.ID():
			if sawScreen {
				t.Errorf("a camera frame after the screen's")
			}
			if w != 640 || h != 360 {
				t.Errorf("a camera frame described as %dx%d", w, h)
			}
		case screen.ID():
			if !sawScreen && (!f.Keyframe || !f.Switch) {
				t.Errorf("the screen's first frame: keyframe %v, switch %v", f.Keyframe, f.Switch)
			}
			sawScreen = true
			if w != 1280 || h != 720 {
				t.Fatalf("a screen frame described as %dx%d: the camera's parameter sets", w, h)
			}
		}
		// The old source goes on while the switch waits: no hole in the video.
		if !last.IsZero() && f.Received.Sub(last) > 500*time.Millisecond {
			t.Errorf("no video for %v before a frame of %s", f.Received.Sub(last), f.Source)
		}
		last = f.Received
	}
}

// cameraSince reports whether a frame of the camera that arrived after t was emitted.
func cameraSince(l *frameLog, camera string, t time.Time) bool {
	for _, f := range l.snapshot() {
		if f.Source == camera && f.Received.After(t) {
			return true
		}
	}
	return false
}

// pushClips sends the clips' frames on the tracks at the clips' frame rate
// until stop closes; edit may change a frame's access unit before it is sent.
func pushClips(stop <-chan struct{}, tracks []*sfu.Track, clips []*hlstest.Clip, edit func(track int, au []byte) []byte) {
	var packetizers []rtp.Packetizer
	for range tracks {
		packetizers = append(packetizers, rtp.NewPacketizer(1200, 96, 1, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000))
	}
	peertest.Tick(stop, hlstest.FrameDuration, func(i int) {
		for n, tr := range tracks {
			au := edit(n, clips[n].Frames[i%len(clips[n].Frames)])
			for _, pkt := range packetizers[n].Packetize(au, 3600) {
				pkt.Timestamp = uint32(i) * 3600
				tr.Push(pkt)
			}
		}
	})
}

// hasIDR reports whether an Annex-B access unit holds an IDR slice: the
// encoder may put keyframes anywhere (x264 does at scene cuts).
func hasIDR(au []byte) bool {
	for _, n := range bytes.Split(au, []byte{0, 0, 1}) {
		if len(n) > 0 && n[0]&0x1f == 5 {
			return true
		}
	}
	return false
}

// withoutParams removes the SPS and PPS from an Annex-B access unit.
func withoutParams(au []byte) []byte {
	var out []byte
	for _, n := range bytes.Split(au, []byte{0, 0, 1}) {
		n = bytes.TrimRight(n, "\x00")
		if len(n) == 0 || n[0]&0x1f == 7 || n[0]&0x1f == 8 {
			continue
		}
		out = append(append(out, 0, 0, 0, 1), n...)
	}
	return out
}
