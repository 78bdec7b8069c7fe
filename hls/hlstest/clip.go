// Package hlstest has helpers for tests of the broadcast path: media made by
// ffmpeg (real H.264 and Opus), pion publishers that send it, and ffprobe and
// ffmpeg readers of what comes out.
package hlstest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Clip is a test pattern encoded by ffmpeg: H.264 constrained baseline (no
// B-frames, one keyframe a second, parameter sets before each) at 25 fps.
type Clip struct {
	Width, Height int
	// Frames are access units in Annex-B form (with start codes).
	Frames [][]byte
}

// FrameDuration is the clip's frame interval.
const FrameDuration = 40 * time.Millisecond

// NeedFFmpeg skips the test without ffmpeg and ffprobe, except in CI.
func NeedFFmpeg(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI needs %s: %v", bin, err)
			}
			t.Skipf("no %s: %v", bin, err)
		}
	}
}

// NewClip encodes seconds of testsrc2 at width x height into t.TempDir().
// label is drawn on the picture so that sources can be told apart.
func NewClip(t testing.TB, width, height int, seconds int, label string) *Clip {
	t.Helper()
	return NewClipRate(t, width, height, seconds, label, 0)
}

// NewClipRate is NewClip at about kbps kbit/s (x264's own choice for 0).
func NewClipRate(t testing.TB, width, height int, seconds int, label string, kbps int) *Clip {
	t.Helper()
	return newClip(t, width, height, seconds, label, kbps, 25)
}

// NewClipGOP is NewClip with a keyframe every gop frames (25 a second).
func NewClipGOP(t testing.TB, width, height int, seconds int, label string, gop int) *Clip {
	t.Helper()
	return newClip(t, width, height, seconds, label, 0, gop)
}

func newClip(t testing.TB, width, height int, seconds int, label string, kbps, gop int) *Clip {
	t.Helper()
	NeedFFmpeg(t)
	out := filepath.Join(t.TempDir(), fmt.Sprintf("%s-%dx%d.h264", label, width, height))
	src := fmt.Sprintf("testsrc2=size=%dx%d:rate=25", width, height)
	args := []string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", src, "-t", fmt.Sprint(seconds),
		"-c:v", "libx264", "-tune", "zerolatency", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", fmt.Sprint(gop)}
	if kbps > 0 {
		r := fmt.Sprintf("%dk", kbps)
		args = append(args, "-b:v", r, "-maxrate", r, "-bufsize", fmt.Sprintf("%dk", kbps/2))
	}
	cmd := exec.Command("ffmpeg", append(args, "-bsf:v", "h264_mp4toannexb", "-f", "h264", out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	c := &Clip{Width: width, Height: height, Frames: accessUnits(data)}
	if len(c.Frames) < 25 {
		t.Fatalf("ffmpeg made %d frames", len(c.Frames))
	}
	return c
}

// accessUnits splits an Annex-B stream into access units: a new one starts at
// a parameter set, SEI or delimiter that follows a slice, or at a slice whose
// first_mb_in_slice is 0 (ue(v) 0 is a single 1 bit) that follows a slice.
func accessUnits(data []byte) [][]byte {
	var aus [][]byte
	var cur []byte
	sawSlice := false
	for _, nalu := range splitNALUs(data) {
		typ := nalu[0] & 0x1f
		slice := typ == 1 || typ == 5
		firstSlice := slice && len(nalu) > 1 && nalu[1]&0x80 != 0
		if sawSlice && (firstSlice || typ == 6 || typ == 7 || typ == 8 || typ == 9) {
			aus = append(aus, cur)
			cur, sawSlice = nil, false
		}
		cur = append(append(cur, 0, 0, 0, 1), nalu...)
		sawSlice = sawSlice || slice
	}
	if len(cur) > 0 {
		aus = append(aus, cur)
	}
	return aus
}

// splitNALUs returns the NAL units of an Annex-B stream.
func splitNALUs(data []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(data); {
		if data[i] == 0 && data[i+1] == 0 && data[i+2] == 1 {
			if start >= 0 {
				out = append(out, bytes.TrimRight(data[start:i], "\x00"))
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(data) {
		out = append(out, data[start:])
	}
	return out
}

// Sound is Opus from ffmpeg: 20 ms packets of a sine tone at 48 kHz, stereo.
type Sound struct {
	Packets [][]byte
}

// PacketDuration is the Opus packet interval.
const PacketDuration = 20 * time.Millisecond

// NewSound encodes seconds of a tone at freq Hz.
func NewSound(t testing.TB, seconds int, freq int) *Sound {
	t.Helper()
	NeedFFmpeg(t)
	out := filepath.Join(t.TempDir(), fmt.Sprintf("tone-%d.ogg", freq))
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", fmt.Sprintf("sine=frequency=%d:sample_rate=48000", freq), "-t", fmt.Sprint(seconds), "-ac", "2",
		"-c:a", "libopus", "-b:a", "64k", "-frame_duration", "20", "-application", "lowdelay", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	packets, err := oggPackets(data)
	if err != nil || len(packets) < 3 {
		t.Fatalf("ogg: %d packets, %v", len(packets), err)
	}
	return &Sound{Packets: packets[2:]} // after OpusHead and OpusTags
}

// oggPackets reassembles the packets of an Ogg stream (RFC 3533 section 6).
func oggPackets(data []byte) ([][]byte, error) {
	var packets [][]byte
	var cur []byte
	for len(data) > 0 {
		if len(data) < 27 || string(data[:4]) != "OggS" {
			return packets, fmt.Errorf("not an Ogg page")
		}
		n := int(data[26])
		if len(data) < 27+n {
			return packets, fmt.Errorf("short page")
		}
		lacing := data[27 : 27+n]
		body := data[27+n:]
		for _, l := range lacing {
			if len(body) < int(l) {
				return packets, fmt.Errorf("short page body")
			}
			cur = append(cur, body[:l]...)
			body = body[l:]
			if l < 255 {
				packets = append(packets, cur)
				cur = nil
			}
		}
		data = body
	}
	return packets, nil
}
