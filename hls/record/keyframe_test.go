package record

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"

	"lectern/access"
	"lectern/hls"
	"lectern/hls/hlstest"
	"lectern/ingest"
	"lectern/rtspout"
	"lectern/sfu"
	"lectern/storage"
	"lectern/storage/objstore"
)

// encoderAuth is a hand-written ingest.Authorizer: one token publishes into
// any room.
type encoderAuth struct{ opts sfu.RoomOptions }

func (a encoderAuth) Token(_ context.Context, _, token string) (ingest.Grant, error) {
	if token != "encoder-token" {
		return ingest.Grant{}, ingest.ErrBadCredentials
	}
	return ingest.Grant{Identity: "encoder", Name: "Encoder", Publish: true, Options: a.opts}, nil
}

func (a encoderAuth) StreamKey(context.Context, string) (string, sfu.RoomOptions, error) {
	return "", sfu.RoomOptions{}, ingest.ErrRoomNotFound
}

// startRTSP runs an RTSP server for encoders on the recorder's SFU until the
// test ends and returns its address.
func (tr *testRecorder) startRTSP(opts sfu.RoomOptions) string {
	t := tr.t
	t.Helper()
	out := rtspout.New(tr.progs, testLogger())
	t.Cleanup(out.Close)
	srv, err := ingest.New(ingest.Config{Addr: "127.0.0.1:0"}, encoderAuth{opts}, tr.media, out, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("rtsp: %v", err)
		}
	})
	return srv.Addr().String()
}

// TestRecordingStartsAtFirstKeyframe: an encoder publishes exactly 12 s over
// RTSP (ffmpeg in real time, SPS and PPS in the SDP, keyframes every 0.5, 2
// and 5 s) into a room that records. Nothing else is on air, so the program
// starts at the encoder's first keyframe: the recording lasts what was
// published (within 0.2 s; before, it lost the first keyframe interval), and
// its first second decodes without an error, every frame of it.
func TestRecordingStartsAtFirstKeyframe(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	const published = 12 * time.Second
	for _, tc := range []struct {
		name     string
		fps, gop int
	}{
		{"gop0.5s", 30, 15},
		{"gop2s", 25, 50},
		{"gop5s", 30, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, err := objstore.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			tr := newTestRecorder(t, store, testConfig(t))
			opts := sfu.RoomOptions{Broadcast: true, Tier: access.FHD}
			if err := tr.hls.Configure("enc", hls.Settings{Record: true, Media: opts}); err != nil {
				t.Fatal(err)
			}
			if err := tr.rec.Configure("enc", true); err != nil {
				t.Fatal(err)
			}
			addr := tr.startRTSP(opts)

			ctx, cancel := context.WithTimeout(t.Context(), published+60*time.Second)
			defer cancel()
			enc := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-re",
				"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=640x360:rate=%d", tc.fps),
				"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
				"-t", fmt.Sprint(published.Seconds()),
				"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
				"-g", fmt.Sprint(tc.gop), "-keyint_min", fmt.Sprint(tc.gop), "-sc_threshold", "0",
				"-c:a", "aac", "-b:a", "64k",
				"-f", "rtsp", "-rtsp_transport", "tcp", "rtsp://"+addr+"/enc?token=encoder-token")
			var stderr bytes.Buffer
			enc.Stderr = &stderr
			if err := enc.Run(); err != nil {
				t.Fatalf("ffmpeg publishing: %v\n%s", err, stderr.String())
			}

			// The encoder left: the program goes idle and the recording ends.
			rec := tr.waitRecording("enc", 60*time.Second, isStatus(storage.RecordingComplete))
			playlist := tr.download(rec)
			got := hlstest.Duration(t, playlist)
			t.Logf("published %v, recorded %v (ffprobe), %v (database)", published, got, rec.Duration)
			if d := got - published; math.Abs(d.Seconds()) > 0.2 {
				t.Errorf("the recording lasts %v, published %v: %v off (the first keyframe interval is %v)",
					got, published, d, time.Duration(tc.gop)*time.Second/time.Duration(tc.fps))
			}

			stderrText, err := hlstest.Decode(t, playlist, 1)
			if err != nil || strings.TrimSpace(stderrText) != "" {
				t.Errorf("ffmpeg decoding the first second: %v\n%s", err, stderrText)
			}
			frames, stderrText, err := hlstest.DecodeFrames(t, playlist, 1)
			if err != nil || strings.TrimSpace(stderrText) != "" {
				t.Fatalf("ffprobe reading the first second's frames: %v\n%s", err, stderrText)
			}
			// The first second holds tc.fps frames (ffprobe reads up to the
			// first packet past the interval, so one more may come).
			if n := len(frames); n < tc.fps || n > tc.fps+1 {
				t.Errorf("the first second has %d frames, want %d", n, tc.fps)
			}
			for _, f := range frames {
				if f.Width != 640 || f.Height != 360 {
					t.Errorf("frame at %s is %dx%d", f.PTSTime, f.Width, f.Height)
					break
				}
			}
		})
	}
}
