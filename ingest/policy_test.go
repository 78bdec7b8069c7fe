package ingest

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"lectern/access"
	"lectern/hls/hlstest"
	"lectern/sfu"
)

// TestRTSPMediaPolicy records with ffmpeg into an audio-only room: video
// and audio is refused as a whole, naming the camera; audio alone goes on;
// a token whose override allows the camera records both.
func TestRTSPMediaPolicy(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	r := newRig(t, false)
	audioOnly := sfu.RoomOptions{Refused: access.AllSources &^ access.Microphone}
	r.auth.mu.Lock()
	r.auth.tokens["radio/enc-token"] = Grant{Identity: "enc", Name: "Encoder", Publish: true, Options: audioOnly}
	r.auth.tokens["tv/enc-token"] = Grant{Identity: "enc", Name: "Encoder", Publish: true, Options: audioOnly}
	r.auth.tokens["tv/host-token"] = Grant{Identity: "host", Name: "Host", Publish: true, Options: audioOnly, Sources: access.Camera}
	r.auth.mu.Unlock()

	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libopus",
		"-f", "rtsp", "-rtsp_transport", "tcp", r.url("tv", "", "token=enc-token"))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("ffmpeg recorded video into an audio-only room:\n%s", out)
	}
	if !strings.Contains(string(out), "does not take camera") {
		t.Errorf("ffmpeg's error does not name the camera:\n%s", out)
	}
	if rm, ok := r.media.LiveRoom("tv"); ok && len(rm.Tracks()) > 0 {
		t.Fatalf("a refused ANNOUNCE published %d tracks", len(rm.Tracks()))
	}

	audio := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "warning", "-re",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "60", "-c:a", "libopus", "-b:a", "64k",
		"-f", "rtsp", "-rtsp_transport", "tcp", r.url("radio", "", "token=enc-token"))
	var stderr bytes.Buffer
	audio.Stderr = &stderr
	if err := audio.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { audio.Process.Kill(); audio.Wait() })
	tracks := r.waitTracks(t, "radio", 1, &stderr)
	if len(tracks) != 1 || tracks[0].Source() != sfu.SourceMicrophone {
		t.Errorf("audio-only room has %d tracks, want the microphone alone", len(tracks))
	}

	log := publish(t, r.url("tv", "", "token=host-token"), "tcp", "libopus")
	if got := r.waitTracks(t, "tv", 2, log); len(got) != 2 {
		t.Errorf("the host with a camera override published %d tracks, want 2", len(got))
	}
}
