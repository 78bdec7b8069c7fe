package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"lectern/hls/hlstest"
	"lectern/storage"
)

// TestShutdownFinalizesRecording: an encoder publishes over RTSP (H.264
// without B-frames, as browsers send, and AAC) into a room
// with broadcast.record on; the server is stopped (the SIGTERM path) while it
// records, and the recording is complete, in the data directory, and plays.
func TestShutdownFinalizesRecording(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	dataDir := t.TempDir()
	url, banner, stop := server(t, map[string]string{"LECTERN_DATA_DIR": dataDir})
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	key := keyLine.FindStringSubmatch(banner)[1]
	rtspBase := rtspLine.FindStringSubmatch(banner)[1]
	if code, _ := call(t, "POST", url+"/api/v1/rooms", key, `{"id":"rec","name":"Recorded","mode":"webinar","broadcast":{"record":true}}`); code != 201 {
		t.Fatalf("create room: %d", code)
	}
	_, sk := call(t, "POST", url+"/api/v1/rooms/rec/stream-key", key, "")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	target := strings.Replace(rtspBase, "rtsp://", "rtsp://encoder:"+sk["stream_key"].(string)+"@", 1) + "/rec"
	startEncoder(t, ctx, target, 0)

	deadline := time.Now().Add(20 * time.Second)
	for {
		_, list := call(t, "GET", url+"/api/v1/rooms/rec/recordings", key, "")
		if rs, _ := list["recordings"].([]any); len(rs) > 0 && rs[0].(map[string]any)["status"] == "recording" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recording started: %v", list)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(4 * time.Second)
	stop()
	stopped = true

	db, err := storage.Open(t.Context(), "", dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rs, err := db.Recordings(t.Context(), "rec")
	if err != nil || len(rs) != 1 {
		t.Fatalf("recordings after shutdown: %v %v", rs, err)
	}
	r := rs[0]
	if r.Status != storage.RecordingComplete || r.Duration < 3*time.Second {
		t.Fatalf("after shutdown: %+v", r)
	}
	playlist := filepath.Join(dataDir, "recordings", "rec", r.ID, "index.m3u8")
	if d := hlstest.Duration(t, playlist); d < r.Duration-2*time.Second || d > r.Duration+2*time.Second {
		t.Errorf("ffprobe: %v, recorded %v", d, r.Duration)
	}
	if stderr, err := hlstest.Decode(t, playlist, int(r.Duration.Seconds())+5); err != nil || strings.TrimSpace(stderr) != "" {
		t.Errorf("ffmpeg decoding the recording: %v\n%s", err, stderr)
	}
}

// startEncoder has ffmpeg publish a 640x360 test pattern (H.264 with
// bframes B-frames) and a 440 Hz tone (AAC) to target over RTSP/TCP, in real
// time, until ctx ends or the test does.
func startEncoder(t *testing.T, ctx context.Context, target string, bframes int) {
	t.Helper()
	enc := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "60", "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-bf", strconv.Itoa(bframes), "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "96k", "-f", "rtsp", "-rtsp_transport", "tcp", target)
	if err := enc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Process.Kill(); enc.Wait() })
}
