package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"lectern/hls/hlstest"
	"lectern/storage"
	"lectern/storage/objstore"
	"lectern/storage/objstore/miniotest"
)

// TestShutdownFinalizesRecording: an encoder publishes over RTSP (H.264
// without B-frames, as browsers send, and AAC) into a room with
// broadcast.record on; the server is stopped (the SIGTERM path: run's context
// ends, as signal.NotifyContext makes it) while it records, and the recording
// is complete, uploaded to the object store (the data directory, or a real
// MinIO), and plays.
func TestShutdownFinalizesRecording(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	for _, kind := range []string{"local", "minio"} {
		t.Run(kind, func(t *testing.T) {
			dataDir := t.TempDir()
			env := map[string]string{"LECTERN_DATA_DIR": dataDir}
			var store objstore.Store
			if kind == "minio" {
				minio := miniotest.Start(t)
				store = minio.Store("lectern")
				env["LECTERN_S3_ENDPOINT"], env["LECTERN_S3_BUCKET"] = minio.Endpoint, "lectern"
				env["LECTERN_S3_ACCESS_KEY"], env["LECTERN_S3_SECRET_KEY"] = miniotest.AccessKey, miniotest.SecretKey
			} else {
				local, err := objstore.NewLocal(filepath.Join(dataDir, "recordings"))
				if err != nil {
					t.Fatal(err)
				}
				store = local
			}
			r := recordThenStop(t, dataDir, env)
			// The recording as the store holds it, copied out for ffprobe.
			dir := t.TempDir()
			keys, err := store.List(t.Context(), r.RoomID+"/"+r.ID+"/")
			if err != nil || len(keys) < 3 {
				t.Fatalf("objects of the recording: %v %v", keys, err)
			}
			for _, key := range keys {
				obj, err := store.Open(t.Context(), key)
				if err != nil {
					t.Fatal(err)
				}
				data, err := io.ReadAll(obj)
				obj.Close()
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, path.Base(key)), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			playlist := filepath.Join(dir, "index.m3u8")
			if d := hlstest.Duration(t, playlist); d < r.Duration-2*time.Second || d > r.Duration+2*time.Second {
				t.Errorf("ffprobe: %v, recorded %v", d, r.Duration)
			}
			if stderr, err := hlstest.Decode(t, playlist, int(r.Duration.Seconds())+5); err != nil || strings.TrimSpace(stderr) != "" {
				t.Errorf("ffmpeg decoding the recording: %v\n%s", err, stderr)
			}
		})
	}
}

// recordThenStop starts the server with env, records at least 4 s of an
// RTSP encoder, stops the server and returns the recording as stored.
func recordThenStop(t *testing.T, dataDir string, env map[string]string) storage.Recording {
	t.Helper()
	url, banner, stop := server(t, env)
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

	// Poll (at a pace, another process answers) until 4 s are recorded.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, list := call(t, "GET", url+"/api/v1/rooms/rec/recordings", key, "")
		if rs, _ := list["recordings"].([]any); len(rs) > 0 {
			if rec := rs[0].(map[string]any); rec["status"] == "recording" && rec["duration_ms"].(float64) >= 4000 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 4 s recording: %v", list)
		}
		time.Sleep(200 * time.Millisecond)
	}
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
	if r := rs[0]; r.Status != storage.RecordingComplete || r.Duration < 3*time.Second {
		t.Fatalf("after shutdown: %+v", r)
	}
	return rs[0]
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
