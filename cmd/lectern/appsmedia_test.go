package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"lectern/hls/hlstest"
)

// TestAppRoomBroadcastsAndRecords: a room of an app other than the default
// one goes the whole way under its key (acme~enc): ffmpeg publishes over
// RTSP with Digest (the server never sees the stream key, so the URL names
// the app: ?app=acme), the room's LL-HLS plays with a token of the app
// (ffprobe), the broadcast is recorded and the recording plays back from the
// URL the app's key is given. The default app has no room enc.
func TestAppRoomBroadcastsAndRecords(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	url, banner, stop := server(t, map[string]string{"LECTERN_DATA_DIR": t.TempDir()})
	defer stop()
	operator := keyLine.FindStringSubmatch(banner)[1]
	rtspBase := rtspLine.FindStringSubmatch(banner)[1]
	c := appsClient{t: t, url: url}
	c.must(201, "POST", "/api/v1/apps", operator, `{"id":"acme","name":"Acme"}`)
	key, _ := c.must(201, "POST", "/api/v1/apps/acme/keys", operator, `{}`)["key"].(string)
	c.must(201, "POST", "/api/v1/rooms", key, `{"id":"enc","name":"Encoder","mode":"webinar","broadcast":{"hls":true,"record":true}}`)
	sk, _ := c.must(201, "POST", "/api/v1/rooms/enc/stream-key", key, "")["stream_key"].(string)
	token, _ := c.must(201, "POST", "/api/v1/tokens", key, `{"identity":"viewer","rooms":{"enc":{"permissions":["subscribe"]}}}`)["token"].(string)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	startEncoder(t, ctx, strings.Replace(rtspBase, "rtsp://", "rtsp://encoder:"+sk+"@", 1)+"/enc?app=acme", 0)

	index := url + "/hls/enc/index.m3u8?token=" + token
	// The server is another component here: wait on its answers, paced.
	poll := func(what string, done func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !done() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: still not after 30 s", what)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	poll("index.m3u8", func() bool {
		got, _, _ := c.do("GET", "/hls/enc/index.m3u8?token="+token, "", "", "")
		return got == 200
	})
	video := false
	for _, s := range hlstest.Probe(t, index) {
		video = video || s.CodecName == "h264" && s.Width == 640
	}
	if !video {
		t.Errorf("ffprobe found no h264 640x360 in acme's HLS")
	}
	if got, _, _ := c.do("GET", "/api/v1/rooms/enc", operator, "", ""); got != 404 {
		t.Errorf("the default app's key on enc: %d, want 404", got)
	}

	var rec map[string]any
	poll("3 s recorded", func() bool {
		rs, _ := c.must(200, "GET", "/api/v1/rooms/enc/recordings", key, "")["recordings"].([]any)
		if len(rs) == 0 {
			return false
		}
		rec = rs[0].(map[string]any)
		return rec["status"] == "recording" && rec["duration_ms"].(float64) >= 3000
	})
	if rec["room"] != "enc" {
		t.Errorf("the recording names its room %v, want its ID enc", rec["room"])
	}
	c.must(200, "PATCH", "/api/v1/rooms/enc/broadcast", key, `{"record":false}`)
	id, _ := rec["id"].(string)
	poll("the recording complete", func() bool {
		rec = c.must(200, "GET", "/api/v1/rooms/enc/recordings/"+id, key, "")
		return rec["status"] == "complete"
	})
	play, _ := rec["playback_url"].(string)
	if !strings.Contains(play, "/recordings/acme~enc/"+id+"/") {
		t.Fatalf("playback URL %q does not carry the room's key", play)
	}
	res, err := http.Get(play)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(string(body), "#EXTM3U") {
		t.Fatalf("playback: %d %.200s", res.StatusCode, body)
	}
	if streams := hlstest.Probe(t, play); len(streams) == 0 {
		t.Errorf("ffprobe found nothing in acme's recording")
	}
}
