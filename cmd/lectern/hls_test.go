package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"lectern/hls/hlstest"
)

// TestRTSPEncoderToHLS: ffmpeg publishes H.264 with B-frames and AAC over RTSP
// into a room that broadcasts; the room's LL-HLS carries H.264 at that size
// and the encoder's AAC (its config comes through the RTSP fmtp line), and
// ffmpeg decodes it.
func TestRTSPEncoderToHLS(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	url, banner, stop := server(t, map[string]string{"LECTERN_DATA_DIR": t.TempDir()})
	defer stop()
	key := keyLine.FindStringSubmatch(banner)[1]
	rtspBase := rtspLine.FindStringSubmatch(banner)[1]
	if code, _ := call(t, "POST", url+"/api/v1/rooms", key, `{"id":"enc","name":"Encoder","mode":"webinar","broadcast":{"hls":true}}`); code != 201 {
		t.Fatalf("create room: %d", code)
	}
	_, sk := call(t, "POST", url+"/api/v1/rooms/enc/stream-key", key, "")
	_, tok := call(t, "POST", url+"/api/v1/tokens", key, `{"identity":"viewer","rooms":{"enc":{"permissions":["subscribe"]}}}`)
	token, _ := tok["token"].(string)
	if token == "" {
		t.Fatalf("token: %v", tok)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	target := strings.Replace(rtspBase, "rtsp://", "rtsp://encoder:"+sk["stream_key"].(string)+"@", 1) + "/enc"
	startEncoder(t, ctx, target, 2)

	index := url + "/hls/enc/index.m3u8?token=" + token
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(index)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("index.m3u8 still answers %d", res.StatusCode)
		}
		// The server is another component here: wait on its answer, paced.
		time.Sleep(200 * time.Millisecond)
	}
	var video, audio bool
	streams := hlstest.Probe(t, index)
	for _, s := range streams {
		video = video || s.CodecName == "h264" && s.Width == 640 && s.Height == 360
		audio = audio || s.CodecName == "aac"
	}
	if !video || !audio {
		t.Fatalf("ffprobe did not find h264 640x360 and aac")
	}
	if stderr, err := hlstest.Decode(t, index, 3); err != nil || strings.TrimSpace(stderr) != "" {
		t.Fatalf("ffmpeg: %v\n%s", err, stderr)
	}
}
