package hls

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"lectern/hls/hlstest"
	"lectern/sfu"
)

var streamInf = regexp.MustCompile(`#EXT-X-STREAM-INF:BANDWIDTH=(\d+),AVERAGE-BANDWIDTH=\d+,CODECS="([^"]+)",RESOLUTION=(\d+)x(\d+)`)

// TestSimulcastRenditions: a simulcast camera on air gives one rendition per
// layer, each with its measured bandwidth, its resolution and codecs, and
// each playable.
func TestSimulcastRenditions(t *testing.T) {
	sizes := [][2]int{{320, 180}, {640, 360}, {1280, 720}}
	var clips []*hlstest.Clip
	for _, s := range sizes {
		clips = append(clips, hlstest.NewClip(t, s[0], s[1], 4, "sim"))
	}
	sound := hlstest.NewSound(t, 4, 440)
	b := newTestBroadcast(t, DefaultConfig())
	publish(t, b.room("abr"), hlstest.Track{Source: sfu.SourceCamera, Simulcast: clips},
		hlstest.Track{Source: sfu.SourceMicrophone, Sound: sound})
	b.waitLive("abr")
	// Every rendition has a complete segment.
	for i := range sizes {
		b.waitSegments(b.url+"/hls/abr/"+b.variantURI("abr", i), 1)
	}
	status, body, _ := b.get(b.url + "/hls/abr/index.m3u8")
	if status != 200 {
		t.Fatalf("index.m3u8: %d %s", status, body)
	}
	t.Logf("multivariant:\n%s", body)
	m := streamInf.FindAllStringSubmatch(string(body), -1)
	if len(m) != len(sizes) {
		t.Fatalf("%d variants, want %d", len(m), len(sizes))
	}
	lastBW := 0
	for i, v := range m {
		bw, _ := strconv.Atoi(v[1])
		w, _ := strconv.Atoi(v[3])
		h, _ := strconv.Atoi(v[4])
		if [2]int{w, h} != sizes[i] || v[2] != "avc1.42c0"+fmt.Sprintf("%02x", levelOf(clips[i]))+",opus" || bw <= lastBW {
			t.Errorf("variant %d: %dx%d %s at %d b/s (the one before %d)", i, w, h, v[2], bw, lastBW)
		}
		lastBW = bw
	}
	for i, s := range sizes {
		url := b.url + "/hls/abr/" + b.variantURI("abr", i)
		var video, audio bool
		for _, st := range hlstest.Probe(t, url) {
			video = video || st.CodecName == "h264" && st.Width == s[0] && st.Height == s[1]
			audio = audio || st.CodecName == "opus"
		}
		if !video || !audio {
			t.Errorf("rendition %d: ffprobe did not find h264 %dx%d and opus", i, s[0], s[1])
		}
		if stderr, err := hlstest.Decode(t, url, 2); err != nil || strings.TrimSpace(stderr) != "" {
			t.Errorf("rendition %d: ffmpeg: %v %s", i, err, stderr)
		}
	}
}

// levelOf is level_idc of a clip's SPS.
func levelOf(c *hlstest.Clip) byte { return c.Frames[0][7] }

// variantURI is the URI of variant i in the room's multivariant playlist.
func (b *testBroadcast) variantURI(room string, i int) string {
	b.t.Helper()
	_, body, _ := b.get(b.url + "/hls/" + room + "/index.m3u8")
	var uris []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasSuffix(l, ".m3u8") {
			uris = append(uris, l)
		}
	}
	if len(uris) == 0 {
		b.t.Fatalf("no variants in\n%s", body)
	}
	// Variants not measured yet are left out: address them by name.
	base := uris[0][:strings.LastIndex(uris[0], "/")+1]
	return base + "v" + strconv.Itoa(i) + ".m3u8"
}
