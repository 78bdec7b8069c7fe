package hls

import (
	"encoding/hex"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"lectern/hls/hlstest"
	"lectern/program"
)

// Parameter sets of x264's 640x360 constrained baseline.
var (
	testSPS, _ = hex.DecodeString("6742c01ed900a02ff97011000003000100000300328f162e48")
	testPPS, _ = hex.DecodeString("68cb83cb20")
)

// feeder writes synthetic frames to a muxer as a program would, in fake time.
type feeder struct {
	t     *testing.T
	m     *Muxer
	video *program.Codec
	opus  *program.Codec
}

func newFeeder(t *testing.T, cfg Config) *feeder {
	c, err := program.NewH264Codec(testSPS, testPPS)
	if err != nil {
		t.Fatal(err)
	}
	return &feeder{t: t, m: newMuxer(cfg, testLogger(), &stats{}), video: c,
		opus: &program.Codec{Name: program.CodecOpus, ClockRate: 48000, Channels: 2}}
}

func (f *feeder) frame(dts int64, key bool) {
	au := [][]byte{{0x41, 0x9a, 0x00, 0x01}}
	if key {
		au = [][]byte{testSPS, testPPS, {0x65, 0x88, 0x84, 0x00}}
	}
	f.m.WriteFrame(&program.Frame{Kind: program.Video, Codec: f.video, DTS: dts, Keyframe: key, AU: au, Received: time.Now()})
}

func (f *feeder) sound(dts int64) {
	f.m.WriteFrame(&program.Frame{Kind: program.Audio, Codec: f.opus, DTS: dts, Duration: 960, Keyframe: true,
		Payload: []byte{0xfc, 0x01, 0x02}, Received: time.Now()})
}

// playlist parses rendition 0's current playlist.
func (f *feeder) playlist() *hlstest.MediaPlaylist {
	st := f.m.current()
	if st == nil {
		f.t.Fatal("no live stream")
	}
	pl, err := hlstest.ParseMedia(st.renditionList()[0].snap.Load().body)
	if err != nil {
		f.t.Fatal(err)
	}
	return pl
}

// run feeds seconds of video at fps (with jitter in ms, alternating sign),
// a keyframe every keyEvery frames (0: only the first) and, with audio, 20 ms
// Opus frames; check sees every playlist on the way.
func (f *feeder) run(seconds float64, fps float64, jitter float64, keyEvery int, audio bool, check func(*hlstest.MediaPlaylist)) {
	interval := time.Duration(float64(time.Second) / fps)
	start := time.Now()
	nextAudio := time.Duration(0)
	for i := 0; float64(i)/fps < seconds; i++ {
		at := time.Duration(i)*interval + time.Duration(jitter*float64(time.Millisecond)*float64(1-2*(i%2)))
		for audio && nextAudio <= at {
			f.sound(program.Ticks(nextAudio, 48000) + 480000)
			nextAudio += 20 * time.Millisecond
		}
		time.Sleep(max(0, start.Add(at).Sub(time.Now())))
		f.frame(program.Ticks(at, 90000)+900000, i == 0 || keyEvery > 0 && i%keyEvery == 0)
		if check != nil && f.m.current() != nil {
			check(f.playlist())
		}
	}
}

// TestLowLatencyPlaylist checks the LL-HLS tags and limits of every playlist
// a 25 fps stream with a keyframe a second goes through.
func TestLowLatencyPlaylist(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFeeder(t, DefaultConfig())
		var lastSeq uint64
		f.run(11, 25, 0, 25, true, func(pl *hlstest.MediaPlaylist) {
			if len(pl.Segments) == 0 && len(pl.Open) == 0 {
				return // the first part is not written yet
			}
			for _, bad := range pl.CheckLowLatency() {
				t.Fatal(bad)
			}
			if pl.MediaSequence < lastSeq {
				t.Fatalf("media sequence went back from %d to %d", lastSeq, pl.MediaSequence)
			}
			lastSeq = pl.MediaSequence
		})
		pl := f.playlist()
		if lastSeq == 0 || len(pl.Segments) < 3 {
			t.Fatalf("sequence %d, %d segments: the window never slid", lastSeq, len(pl.Segments))
		}
		if pl.TargetDuration != 2 || pl.PartTarget != 0.2 || pl.PartHoldBack != 0.6 {
			t.Errorf("target %d, part target %v, part hold back %v", pl.TargetDuration, pl.PartTarget, pl.PartHoldBack)
		}
		for _, s := range pl.Segments {
			var sum float64
			for _, p := range s.Parts {
				sum += p.Duration
			}
			if math.Abs(s.Duration-1) > 1e-6 || len(s.Parts) > 0 && math.Abs(sum-s.Duration) > 1e-6 {
				t.Errorf("segment %s: %v s with parts summing to %v, want 1 s", s.URI, s.Duration, sum)
			}
			if len(s.Parts) > 0 && !s.Parts[0].Independent {
				t.Errorf("segment %s does not start with an independent part", s.URI)
			}
		}
	})
}

// TestPartsWithJitter: 30 fps with capture jitter still gives parts no
// longer than the target and not much shorter.
func TestPartsWithJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFeeder(t, DefaultConfig())
		f.run(5, 30, 3, 30, true, nil)
		pl := f.playlist()
		if bad := pl.CheckLowLatency(); len(bad) > 0 {
			t.Fatal(bad)
		}
		for _, s := range pl.Segments {
			for i, p := range s.Parts {
				if i < len(s.Parts)-1 && p.Duration < 0.85*pl.PartTarget {
					t.Errorf("part %s lasts %v, under 85%% of the part target", p.URI, p.Duration)
				}
			}
		}
	})
}

// TestCutWithoutKeyframes: a publisher that sends no keyframe after the first
// still gets segments within the target duration.
func TestCutWithoutKeyframes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFeeder(t, DefaultConfig())
		f.run(8, 25, 0, 0, true, nil)
		pl := f.playlist()
		if bad := pl.CheckLowLatency(); len(bad) > 0 {
			t.Fatal(bad)
		}
		if len(pl.Segments) < 3 {
			t.Fatalf("%d segments", len(pl.Segments))
		}
	})
}

// TestSilenceWithoutAudio: a program without audio gets Opus silence, so
// players that wait for both tracks play.
func TestSilenceWithoutAudio(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFeeder(t, DefaultConfig())
		f.run(3, 25, 0, 25, false, nil)
		st := f.m.current()
		g := st.renditionList()[0].snap.Load().seg(st.msnBase + 2) // the third segment
		if g == nil || len(g.parts) == 0 {
			t.Fatal("no segment 2")
		}
		var parts fmp4.Parts
		if err := parts.Unmarshal(g.parts[0].data); err != nil {
			t.Fatal(err)
		}
		var audio int
		for _, pt := range parts[0].Tracks {
			if pt.ID == audioTrackID {
				audio = len(pt.Samples)
			}
		}
		if audio < 9 { // 200 ms of 20 ms frames, give or take one
			t.Errorf("a part of a program without audio has %d audio frames", audio)
		}
	})
}

// TestSequenceAboveEarlierStreams: a stream numbers its segments from a
// wall-clock base, so a stream started later (here, or on another node after
// a failover) is numbered above every segment an earlier one can have cut:
// segments last at least SegmentDuration.
func TestSequenceAboveEarlierStreams(t *testing.T) {
	seg := time.Second
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	first := msnBase(t0, seg)
	for _, ran := range []time.Duration{0, 500 * time.Millisecond, 10 * time.Second, time.Hour} {
		lastOfFirst := first + uint64(ran/seg) // at most one segment per SegmentDuration
		if next := msnBase(t0.Add(ran+seg), seg); next <= lastOfFirst {
			t.Errorf("a stream started %v after one that ran %v: first MSN %d, not above %d", ran+seg, ran, next, lastOfFirst)
		}
	}
	if msnBase(t0, 0) != 0 {
		t.Error("a zero segment duration gave a base")
	}
}
