package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"lectern/hls/hlstest"
	"lectern/storage/objstore/miniotest"
)

// TestHLSCDNConfig: hls_cdn_url is read from the environment, is off by
// default, and needs the S3 bucket the media go to (hls.Config checks its
// shape: hls.TestCDNURLConfig).
func TestHLSCDNConfig(t *testing.T) {
	s3 := map[string]string{"LECTERN_S3_ENDPOINT": "127.0.0.1:9000", "LECTERN_S3_BUCKET": "lectern",
		"LECTERN_S3_ACCESS_KEY": "k", "LECTERN_S3_SECRET_KEY": "s"}
	env := map[string]string{"LECTERN_HLS_CDN_URL": "https://cdn.example.com"}
	if _, err := loadConfig(nil, envOf(env), io.Discard); err == nil || !strings.Contains(err.Error(), "hls_cdn_url") {
		t.Errorf("hls_cdn_url without S3: %v, want an error naming hls_cdn_url", err)
	}
	for k, v := range s3 {
		env[k] = v
	}
	c, err := loadConfig(nil, envOf(env), io.Discard)
	if err != nil || c.HLSCDNURL != "https://cdn.example.com" {
		t.Fatalf("hls_cdn_url with S3: %+v %v", c.HLSCDNURL, err)
	}
	d, err := loadConfig(nil, envOf(s3), io.Discard)
	if err != nil || d.HLSCDNURL != "" {
		t.Errorf("default hls_cdn_url %q %v, want empty (off)", d.HLSCDNURL, err)
	}
}

// TestHLSThroughCDNEndToEnd: lectern run with hls_cdn_url pointing at the
// MinIO bucket: an RTSP encoder's broadcast is uploaded under hls/, the media
// playlists name the bucket without a preload hint, and ffprobe plays the
// stream from the origin's playlists and MinIO's media.
func TestHLSThroughCDNEndToEnd(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	minio := miniotest.Start(t)
	cdnURL := "http://" + minio.Endpoint + "/lectern"
	url, banner, stop := server(t, map[string]string{"LECTERN_DATA_DIR": t.TempDir(),
		"LECTERN_S3_ENDPOINT": minio.Endpoint, "LECTERN_S3_BUCKET": "lectern",
		"LECTERN_S3_ACCESS_KEY": miniotest.AccessKey, "LECTERN_S3_SECRET_KEY": miniotest.SecretKey,
		"LECTERN_HLS_CDN_URL": cdnURL})
	defer stop()
	key := keyLine.FindStringSubmatch(banner)[1]
	rtspBase := rtspLine.FindStringSubmatch(banner)[1]
	if code, _ := call(t, "POST", url+"/api/v1/rooms", key, `{"id":"cdn","name":"CDN","mode":"webinar","broadcast":{"hls":true}}`); code != 201 {
		t.Fatalf("create room: %d", code)
	}
	_, sk := call(t, "POST", url+"/api/v1/rooms/cdn/stream-key", key, "")
	_, tok := call(t, "POST", url+"/api/v1/tokens", key, `{"identity":"viewer","rooms":{"cdn":{"permissions":["subscribe"]}}}`)
	token, _ := tok["token"].(string)
	if token == "" {
		t.Fatalf("token: %v", tok)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	startEncoder(t, ctx, strings.Replace(rtspBase, "rtsp://", "rtsp://encoder:"+sk["stream_key"].(string)+"@", 1)+"/cdn", 0)

	index := url + "/hls/cdn/index.m3u8?token=" + token
	var body []byte
	for deadline := time.Now().Add(20 * time.Second); ; {
		code, b := fetch(t, index)
		if code == 200 {
			body = b
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("index.m3u8 still answers %d", code)
		}
		time.Sleep(200 * time.Millisecond) // the server is another component: poll, paced
	}
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	media := url + "/hls/cdn/" + lines[len(lines)-1]
	code, pl := fetch(t, media+"?_HLS_msn=0")
	if code != 200 || !strings.Contains(string(pl), "#EXT-X-PART:") || strings.Contains(string(pl), "PRELOAD-HINT") ||
		!strings.Contains(string(pl), "URI=\""+cdnURL+"/hls/cdn/") {
		t.Fatalf("media playlist %d:\n%s", code, pl)
	}
	var video, audio bool
	for _, s := range hlstest.Probe(t, index) {
		video = video || s.CodecName == "h264" && s.Width == 640 && s.Height == 360
		audio = audio || s.CodecName == "aac"
	}
	if !video || !audio {
		t.Fatalf("ffprobe did not find h264 640x360 and aac")
	}
	keys, err := minio.Store("lectern").List(ctx, "hls/cdn/")
	if err != nil || len(keys) < 3 {
		t.Fatalf("bucket under hls/cdn/: %v %v", keys, err)
	}
}

func fetch(t *testing.T, url string) (int, []byte) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}
