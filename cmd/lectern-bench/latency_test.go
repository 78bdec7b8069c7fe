package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"lectern/hls/hlstest"
)

// TestLatencyBench runs the LL-HLS against RTSP latency bench briefly, for
// correctness: both clients must see the same frames, and the LL-HLS client
// cannot show a frame before the RTSP reader has it.
func TestLatencyBench(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	var out bytes.Buffer
	err := run(t.Context(), []string{"latency", "--server-bin", serverBinary(t), "--duration", "4s", "--size", "320x180", "--bitrate", "300k"}, &out)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	var shown string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "| frame shown by") {
			shown = line
		}
	}
	cells := strings.Split(shown, "|")
	if len(cells) != 7 {
		t.Fatalf("report:\n%s", out.String())
	}
	p50, err := time.ParseDuration(strings.ReplaceAll(strings.TrimSpace(cells[2]), " ", ""))
	if err != nil {
		t.Fatalf("p50 %q: %v", cells[2], err)
	}
	// A player holding back at least 3 parts of about 200 ms shows frames
	// later than the RTSP reader gets them.
	if p50 < 300*time.Millisecond || p50 > 5*time.Second {
		t.Errorf("playback p50 %v after RTSP: not plausible\n%s", p50, out.String())
	}
}
