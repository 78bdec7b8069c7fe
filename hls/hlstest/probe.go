package hlstest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"testing"
	"time"
)

// Stream is one stream that ffprobe found.
type Stream struct {
	CodecType string `json:"codec_type"`
	CodecName string `json:"codec_name"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
}

// Probe runs ffprobe on url and returns its streams.
func Probe(t testing.TB, url string) []Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_streams", "-of", "json", url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v: %s", url, err, stderr.String())
	}
	var res struct{ Streams []Stream }
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("ffprobe output: %v: %s", err, out)
	}
	return res.Streams
}

// Decode has ffmpeg read url and decode seconds of it (all streams, to
// nothing). It returns ffmpeg's error output and exit error.
func Decode(t testing.TB, url string, seconds int) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Duration(seconds+30)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", url,
		"-t", fmt.Sprint(seconds), "-f", "null", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stderr.String(), err
}

// DecodeFrames has ffmpeg decode seconds of url's video and reports each
// frame's size and time, to see where the picture changed.
func DecodeFrames(t testing.TB, url string, seconds int) (frames []Frame, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Duration(seconds+30)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-read_intervals", fmt.Sprintf("%%+%d", seconds),
		"-select_streams", "v:0", "-show_frames", "-show_entries", "frame=width,height,pts_time", "-of", "json", url)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	var res struct{ Frames []Frame }
	if jerr := json.Unmarshal(out, &res); jerr != nil && err == nil {
		err = jerr
	}
	return res.Frames, errb.String(), err
}

// Frame is a decoded video frame as ffprobe reports it.
type Frame struct {
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	PTSTime string `json:"pts_time"`
}
