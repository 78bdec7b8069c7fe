package record

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lectern/hls/hlstest"
	"lectern/storage"
	"lectern/storage/objstore/miniotest"
)

// checkPlays has ffprobe and ffmpeg read a recording's playlist (a file or a
// URL): it is a VOD playlist, its duration is want within one segment, and
// ffmpeg decodes all of it without an error.
func checkPlays(t *testing.T, playlist string, body []byte, want time.Duration, segment time.Duration) {
	t.Helper()
	text := string(body)
	for _, tag := range []string{"#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-ENDLIST", "#EXT-X-MAP:URI=\"init-1.mp4\""} {
		if !strings.Contains(text, tag) {
			t.Errorf("playlist lacks %s:\n%s", tag, text)
		}
	}
	got := hlstest.Duration(t, playlist)
	if d := got - want; d > segment || d < -segment {
		t.Errorf("ffprobe duration %v, want %v within one segment (%v)", got, want, segment)
	}
	var video, audio bool
	for _, s := range hlstest.Probe(t, playlist) {
		video = video || s.CodecName == "h264" && s.Width == 640 && s.Height == 360
		audio = audio || s.CodecName == "opus"
	}
	if !video || !audio {
		t.Errorf("ffprobe did not find h264 640x360 and opus in %s", playlist)
	}
	stderr, err := hlstest.Decode(t, playlist, int(want.Seconds())+10)
	// Following a redirect to the S3 host, ffmpeg says it cannot reuse its
	// connection to lectern: a note, not a decoding error.
	var errs []string
	for _, line := range strings.Split(stderr, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.Contains(line, "Cannot reuse HTTP connection for different host") {
			errs = append(errs, line)
		}
	}
	if err != nil || len(errs) > 0 {
		t.Errorf("ffmpeg decoding the recording: %v\n%s", err, stderr)
	}
}

// covers reports whether a recording of d spans the wall-clock time want:
// within one segment, less up to a tenth of want that a loaded machine may
// have dropped before the recorder.
func covers(d, want, segment time.Duration) bool {
	return d <= want+segment && d >= want-segment-want/10
}

// TestRecordingThroughOutage: a pion publisher's H.264 and Opus are recorded
// while the object store goes away for 10 s (MinIO stopped and started
// again); the recording completes, and what is in the store plays end to
// end with the duration that was recorded, also through its playback URL.
func TestRecordingThroughOutage(t *testing.T) {
	clip := hlstest.NewClip(t, 640, 360, 4, "cam")
	sound := hlstest.NewSound(t, 4, 440)
	for _, sc := range miniotest.Cases("recordings") {
		t.Run(sc.Name, func(t *testing.T) {
			start := time.Now()
			store, minio := sc.Open(t)
			tr := newTestRecorder(t, store, testConfig(t))
			tr.record("talk", clip, sound)
			rec := tr.waitRecording("talk", 20*time.Second, isStatus(storage.RecordingActive))
			time.Sleep(3 * time.Second)
			if minio != nil {
				minio.Stop()
				t.Log("MinIO stopped")
				time.Sleep(10 * time.Second)
				minio.Restart()
				t.Log("MinIO started again")
			}
			time.Sleep(3 * time.Second)
			tr.stopRecording("talk")
			stopped := time.Now()
			rec = tr.waitRecording("talk", 30*time.Second, isStatus(storage.RecordingComplete))
			t.Logf("recording %s: %v, %d bytes, at %s", rec.ID, rec.Duration, rec.SizeBytes, rec.Location)

			segment := tr.cfg.Segments.SegmentDuration
			// The recording covers the broadcast from its start to recording
			// off, the outage included. The store's copy must match it within
			// one segment (checkPlays below); here the media may fall short of
			// the wall clock by what the SFU's bounded queues dropped on a
			// starved machine (by design), so a little more leeway.
			if !covers(rec.Duration, stopped.Sub(rec.StartedAt), segment) {
				t.Errorf("recorded duration %v, %v from its start to recording off", rec.Duration, stopped.Sub(rec.StartedAt))
			}
			if rec.EndedAt.Sub(rec.StartedAt) != rec.Duration {
				t.Errorf("ended_at - started_at = %v, duration %v", rec.EndedAt.Sub(rec.StartedAt), rec.Duration)
			}
			// Everything is in the store; nothing is left in the spool.
			local := tr.download(rec)
			body, err := os.ReadFile(local)
			if err != nil {
				t.Fatal(err)
			}
			files, _ := os.ReadDir(filepath.Dir(local))
			var size int64
			for _, f := range files {
				info, _ := f.Info()
				size += info.Size()
			}
			if size != rec.SizeBytes {
				t.Errorf("objects hold %d bytes, the row says %d", size, rec.SizeBytes)
			}
			for _, line := range strings.Split(string(body), "\n") {
				if line != "" && !strings.HasPrefix(line, "#") {
					if _, err := os.Stat(filepath.Join(filepath.Dir(local), line)); err != nil {
						t.Errorf("playlist names %s, which is not in the store", line)
					}
				}
			}
			if left, _ := os.ReadDir(tr.cfg.SpoolDir); len(left) != 0 {
				t.Errorf("spool not emptied: %v", left)
			}
			checkPlays(t, local, body, rec.Duration, segment)

			url := tr.url + tr.rec.PlaybackPath(rec, time.Now())
			checkPlays(t, url, body, rec.Duration, segment)
			t.Logf("took %v", time.Since(start))
		})
	}
}

// TestShutdownFinalizes: closing the recorder while it records completes the
// recording; with the object store down past the shutdown deadline, the
// spool stays and the next start uploads it.
func TestShutdownFinalizes(t *testing.T) {
	clip := hlstest.NewClip(t, 640, 360, 4, "cam")
	sound := hlstest.NewSound(t, 4, 440)
	for _, sc := range miniotest.Cases("recordings") {
		t.Run(sc.Name, func(t *testing.T) {
			store, minio := sc.Open(t)
			tr := newTestRecorder(t, store, testConfig(t))
			tr.record("live", clip, sound)
			rec := tr.waitRecording("live", 20*time.Second, isStatus(storage.RecordingActive))
			time.Sleep(3 * time.Second)
			if minio != nil {
				minio.Stop()
			}
			stopped := time.Now()
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			err := tr.rec.Shutdown(ctx)
			cancel()
			if minio == nil {
				if err != nil {
					t.Fatalf("shutdown: %v", err)
				}
			} else {
				if err == nil {
					t.Fatal("shutdown with the store down finished its uploads")
				}
				rec = tr.waitRecording("live", time.Second, isStatus(storage.RecordingUploading))
				if _, err := os.Stat(filepath.Join(tr.cfg.SpoolDir, rec.ID, playlistName)); err != nil {
					t.Fatalf("the spool has no playlist: %v", err)
				}
				minio.Restart()
				tr.rec = tr.newRecorder()
				if err := tr.rec.Resume(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			rec = tr.waitRecording("live", 20*time.Second, isStatus(storage.RecordingComplete))
			segment := tr.cfg.Segments.SegmentDuration
			if !covers(rec.Duration, stopped.Sub(rec.StartedAt), segment) {
				t.Errorf("recorded %v, %v between its start and shutdown", rec.Duration, stopped.Sub(rec.StartedAt))
			}
			local := tr.download(rec)
			body, _ := os.ReadFile(local)
			checkPlays(t, local, body, rec.Duration, segment)
		})
	}
}
