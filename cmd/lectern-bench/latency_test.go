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

// TestPreloadHintPosition: the hinted part is the one after the last listed,
// whether the open segment has parts yet or not.
func TestPreloadHintPosition(t *testing.T) {
	head := "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-MAP:URI=\"v0-i1.mp4\"\n" +
		"#EXT-X-PART:DURATION=0.2,URI=\"v0-p0.m4s\"\n#EXTINF:1,\nv0-7.m4s\n"
	for _, c := range []struct {
		tail string
		msn  uint64
		part int
		ok   bool
	}{
		{"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"v0-p1.m4s\"\n", 8, 0, true},
		{"#EXT-X-PART:DURATION=0.2,URI=\"v0-p1.m4s\"\n#EXT-X-PART:DURATION=0.2,URI=\"v0-p2.m4s\"\n" +
			"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"v0-p3.m4s\"\n#EXT-X-RENDITION-REPORT:URI=\"v1.m3u8\",LAST-MSN=8,LAST-PART=1\n", 8, 2, true},
		{"#EXT-X-ENDLIST\n", 0, 0, false},
	} {
		msn, part, ok := preloadHint([]byte(head + c.tail))
		if msn != c.msn || part != c.part || ok != c.ok {
			t.Errorf("%q: %d.%d %v, want %d.%d %v", c.tail, msn, part, ok, c.msn, c.part, c.ok)
		}
	}
}
