package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"lectern/access"
	"lectern/hls/hlstest"
)

// TestAudioOnlyWebinarHLS: a webinar room made audio only through the API
// broadcasts its host's microphone as audio-only LL-HLS: ffprobe finds one
// Opus stream and no video, and hls.js in Chromium plays it (currentTime
// advances 3 s) with one level that has no video codec.
func TestAudioOnlyWebinarHLS(t *testing.T) {
	browser := startChromium(t)
	sound := hlstest.NewSound(t, 4, 440)
	a := newBroadcastAPI(t, "radio")
	a.must(http.StatusOK, "PATCH", "/api/v1/rooms/radio", a.adminKey, map[string]any{"media": map[string]any{"preset": "audio_only"}})
	host := dialRoom(t, a, "radio", a.tokenFor("host", "radio", access.Host))
	host.next("welcome")
	hlstest.Publish(t, wsSignal(host), hlstest.Track{Source: "microphone", Sound: sound})
	a.waitLive("radio")

	index := a.url + "/hls/radio/index.m3u8?token=" + a.tokenFor("viewer", "radio", access.Viewer)
	streams := hlstest.Probe(t, index)
	if len(streams) != 1 || streams[0].CodecType != "audio" || streams[0].CodecName != "opus" {
		t.Fatalf("ffprobe found %+v, want one opus audio stream", streams)
	}
	ctx := playHLS(t, browser, a, "radio")
	codecs, err := chromedp.Run(ctx, chromedp.Evaluate[string](`hls.levels.map((l) => (l.videoCodec || '-') + '/' + (l.audioCodec || '-')).join(' ')`))
	if err != nil || codecs != "-/opus" {
		t.Errorf("hls.js levels %q, %v; want one level of Opus without video", codecs, err)
	}
	st := a.must(http.StatusOK, "GET", "/api/v1/rooms/radio/broadcast", a.adminKey, nil)
	if s := string(st.raw); !strings.Contains(s, `"live":true`) {
		t.Errorf("broadcast status: %s", s)
	}
}
