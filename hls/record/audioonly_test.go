package record

import (
	"strings"
	"testing"
	"time"

	"lectern/access"
	"lectern/hls"
	"lectern/hls/hlstest"
	"lectern/sfu"
	"lectern/storage"
	"lectern/storage/objstore/miniotest"
)

// TestAudioOnlyRecording records a room whose media policy takes the
// microphone alone: the recording completes, and ffprobe finds in it one
// Opus stream and no video, which ffmpeg decodes without an error.
func TestAudioOnlyRecording(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	sound := hlstest.NewSound(t, 4, 440)
	store, _ := miniotest.Cases("recordings")[0].Open(t) // local
	tr := newTestRecorder(t, store, testConfig(t))
	opts := sfu.RoomOptions{Broadcast: true, Tier: access.FHD, Refused: access.Camera | access.Screen | access.ScreenAudio}
	if err := tr.hls.Configure("radio", hls.Settings{Record: true, Media: opts}); err != nil {
		t.Fatal(err)
	}
	if err := tr.rec.Configure("radio", true); err != nil {
		t.Fatal(err)
	}
	r, err := tr.media.Room("radio", opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Join(sfu.ParticipantOptions{Identity: "host", Kind: sfu.KindBrowser, Permissions: access.Publish})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close("test over") })
	hlstest.Publish(t, p.Publish, hlstest.Track{Source: sfu.SourceMicrophone, Sound: sound})
	active := tr.waitRecording("radio", 20*time.Second, isStatus(storage.RecordingActive))
	// Three segments uploaded: the recording has something to play.
	var segs int
	deadline := time.Now().Add(20 * time.Second)
	for segs < 3 && time.Now().Before(deadline) {
		keys, err := tr.store.List(t.Context(), prefix(active.RoomID, active.ID))
		if err != nil {
			t.Fatal(err)
		}
		segs = 0
		for _, k := range keys {
			if strings.HasSuffix(k, ".m4s") {
				segs++
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if segs < 3 {
		t.Fatalf("%d segments uploaded in 20 s", segs)
	}
	tr.stopRecording("radio")
	rec := tr.waitRecording("radio", 20*time.Second, isStatus(storage.RecordingComplete))
	if rec.Duration < 2*time.Second {
		t.Errorf("recorded %v", rec.Duration)
	}
	local := tr.download(rec)
	streams := hlstest.Probe(t, local)
	if len(streams) != 1 || streams[0].CodecType != "audio" || streams[0].CodecName != "opus" {
		t.Fatalf("ffprobe found %+v in the recording, want one opus audio stream", streams)
	}
	if stderr, err := hlstest.Decode(t, local, 10); err != nil || strings.TrimSpace(stderr) != "" {
		t.Fatalf("ffmpeg decoding the recording: %v\n%s", err, stderr)
	}
}
