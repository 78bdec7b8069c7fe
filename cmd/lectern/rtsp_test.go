package main

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"lectern/hls/hlstest"
)

var rtspLine = regexp.MustCompile(`RTSP:\s+(rtsp://\S+)/\{room\}`)

// TestStreamKeyWorksUntilRotated publishes with ffmpeg over RTSP using the
// stream key the API hands out; after rotation the old key is refused and the
// new one works.
func TestStreamKeyWorksUntilRotated(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	url, banner, stop := server(t, map[string]string{"LECTERN_DATA_DIR": t.TempDir()})
	defer stop()
	key := keyLine.FindStringSubmatch(banner)[1]
	m := rtspLine.FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no RTSP URL in the banner:\n%s", banner)
	}
	rtspBase := m[1]
	if code, _ := call(t, "POST", url+"/api/v1/rooms", key, `{"id":"studio","name":"Studio","broadcast":{"hls":true}}`); code != 201 {
		t.Fatalf("create room: %d", code)
	}
	code, first := call(t, "POST", url+"/api/v1/rooms/studio/stream-key", key, "")
	if code != 201 || !strings.HasPrefix(first["rtsp_url"].(string), "rtsp://encoder:sk_") {
		t.Fatalf("stream key: %d %v", code, first)
	}
	publishOnce := func(streamKey string) error {
		target := strings.Replace(rtspBase, "rtsp://", "rtsp://encoder:"+streamKey+"@", 1) + "/studio"
		out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10",
			"-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "rtsp", "-rtsp_transport", "tcp", target).CombinedOutput()
		if err != nil {
			return &exec.ExitError{Stderr: out}
		}
		return nil
	}
	oldKey := first["stream_key"].(string)
	if err := publishOnce(oldKey); err != nil {
		t.Fatalf("publishing with the stream key: %s", err.(*exec.ExitError).Stderr)
	}
	if err := publishOnce("sk_guess"); err == nil {
		t.Error("a wrong key published")
	}
	_, rotated := call(t, "POST", url+"/api/v1/rooms/studio/stream-key", key, "")
	if err := publishOnce(oldKey); err == nil {
		t.Error("the old key still publishes after rotation")
	}
	if err := publishOnce(rotated["stream_key"].(string)); err != nil {
		t.Errorf("the new key: %s", err.(*exec.ExitError).Stderr)
	}
}
