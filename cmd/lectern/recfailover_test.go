package main

import (
	"bytes"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lectern/hls/hlstest"
	"lectern/storage"
	"lectern/storage/objstore"
	"lectern/storage/objstore/miniotest"
	"lectern/storage/storagetest"
)

// TestRecordingAcrossFailover (issue 20, point 4): a broadcast with
// broadcast.record on is recorded by node a into one MinIO bucket; node a
// is killed with kill -9. In "resumes", the encoder's reconnect loop brings
// the broadcast back through node b, which continues the same recording in
// a second part; in "ends", the broadcast does not come back and node b
// finishes the recording from what reached the store once the resume window
// has passed, and node a, restarted with its spool, drops what it had
// instead of writing the recording again. Either way the room has one
// recording, complete, whose playlist ffmpeg plays through.
func TestRecordingAcrossFailover(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	for _, resumes := range []bool{true, false} {
		name := map[bool]string{true: "resumes", false: "ends"}[resumes]
		t.Run(name, func(t *testing.T) { recordingAcrossFailover(t, resumes) })
	}
}

func recordingAcrossFailover(t *testing.T, resumes bool) {
	dbURL := storagetest.PostgresURL(t)
	minio := miniotest.Start(t)
	store := minio.Store("lectern")
	env := map[string]string{"LECTERN_S3_ENDPOINT": minio.Endpoint, "LECTERN_S3_BUCKET": "lectern",
		"LECTERN_S3_ACCESS_KEY": miniotest.AccessKey, "LECTERN_S3_SECRET_KEY": miniotest.SecretKey,
		"LECTERN_RECORDING_RESUME_WINDOW": "60s"}
	if !resumes {
		env["LECTERN_RECORDING_RESUME_WINDOW"] = "3s"
	}
	dataA := t.TempDir()
	envA := map[string]string{"LECTERN_DATA_DIR": dataA}
	for k, v := range env {
		envA[k] = v
	}
	a := startProc(t, dbURL, "node-a", envA)
	b := startProc(t, dbURL, "node-b", env)
	if code, body := call(t, "POST", a.url+"/api/v1/rooms", clusterAdminKey, `{"id":"show","name":"Show","mode":"webinar","broadcast":{"record":true}}`); code != 201 {
		t.Fatalf("create room: %d %v", code, body)
	}
	code, key := call(t, "POST", a.url+"/api/v1/rooms/show/stream-key", clusterAdminKey, "")
	if code != 201 {
		t.Fatalf("stream key: %d %v", code, key)
	}
	streamKey := key["stream_key"].(string)
	targetA, targetB := withUser(a.rtsp, "encoder", streamKey)+"/show", withUser(b.rtsp, "encoder", streamKey)+"/show"
	if resumes {
		startEncoderLoop(t, targetA, targetB)
	} else {
		publishRTSP(t, targetA)
	}
	db, err := storage.Open(t.Context(), dbURL, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recordings := func() []storage.Recording {
		rs, err := db.Recordings(t.Context(), "show")
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	var before storage.Recording
	waitFor(t, "6 s recorded on node a", 40*time.Second, func() bool {
		rs := recordings()
		if len(rs) == 1 {
			before = rs[0]
		}
		return len(rs) == 1 && rs[0].Node == "node-a" && rs[0].Duration >= 6*time.Second
	})

	// Not a wait for anything: it puts the kill somewhere inside a 2 s
	// segment rather than just after one was saved.
	time.Sleep(1300 * time.Millisecond)
	a.signal(t, syscall.SIGKILL)
	killed := time.Now()
	<-a.exited
	// What node a had journaled when it died (its row follows its journal).
	if rs := recordings(); len(rs) == 1 {
		before = rs[0]
	}

	var rec storage.Recording
	if resumes {
		waitFor(t, "node b continuing the recording", 40*time.Second, func() bool {
			rs := recordings()
			return len(rs) == 1 && rs[0].Node == "node-b" && rs[0].Part == 1
		})
		// Record 6 s more on node b, then turn recording off there.
		waitFor(t, "6 s recorded on node b", 40*time.Second, func() bool {
			return recordings()[0].Duration >= before.Duration+6*time.Second
		})
		if code, body := call(t, "PATCH", b.url+"/api/v1/rooms/show/broadcast", clusterAdminKey, `{"record":false}`); code != 200 {
			t.Fatalf("recording off through node b: %d %v", code, body)
		}
	}
	waitFor(t, "the recording complete", 90*time.Second, func() bool {
		rs := recordings()
		if len(rs) == 1 {
			rec = rs[0]
		}
		return len(rs) == 1 && rs[0].Status == storage.RecordingComplete
	})
	finished := time.Since(killed)
	if rs := recordings(); len(rs) != 1 || rec.ID != before.ID || rec.Node != "node-b" || rec.Part != 1 {
		t.Fatalf("recordings after the failover: %+v; want one, %s, finished by node-b in part 1", rs, before.ID)
	}

	local := downloadRecording(t, store, rec)
	body, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	stored0, end0, gap, stored1 := partFigures(t, string(body))
	if os.Getenv("RECFAIL_KEEP") != "" {
		os.CopyFS(os.Getenv("RECFAIL_KEEP")+"/"+t.Name(), os.DirFS(filepath.Dir(local)))
	}
	if resumes != (stored1 > 0) || resumes != strings.Contains(string(body), "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"p1-init-1.mp4\"") {
		t.Errorf("playlist of the recording (resumes %v):\n%s", resumes, body)
	}
	// Node a's part as stored is what it journaled less what it had not
	// uploaded: at most a segment or two (2 s each).
	notUploaded := before.Duration - stored0
	if notUploaded < -time.Second || notUploaded > 4*time.Second+time.Second {
		t.Errorf("node a journaled %v, its part in the store is %v", before.Duration, stored0)
	}
	played := hlstest.Duration(t, local)
	if d := played - rec.Duration; d < -2*time.Second || d > 2*time.Second {
		t.Errorf("ffprobe reads %v of the recording, its row says %v", played, rec.Duration)
	}
	frames, stderr, err := hlstest.DecodeFrames(t, local, int(rec.Duration.Seconds())+10)
	want := int(rec.Duration.Seconds() * 25)
	if err != nil || len(frames) < want-50 {
		t.Errorf("ffprobe decoded %d video frames of the recording (%v at 25 fps: %d): %v %s", len(frames), rec.Duration, want, err, stderr)
	}
	t.Logf("FIGURE recording across kill -9 (resumes %v): node a journaled %v, stored %v (not uploaded: %v); its stored media end %v before the kill; gap between the parts %v; node b's part %v; one recording of %v, complete %v after the kill; ffprobe duration %v, %d frames decoded",
		resumes, before.Duration, stored0, notUploaded.Round(time.Millisecond), killed.Sub(end0).Round(time.Millisecond), gap.Round(time.Millisecond), stored1, rec.Duration,
		finished.Round(time.Millisecond), played.Round(time.Millisecond), len(frames))

	if !resumes {
		// Node a comes back with its spool: it drops it, writing nothing.
		spool := filepath.Join(dataA, "spool", rec.ID)
		if _, err := os.Stat(spool); err != nil {
			t.Fatalf("node a's spool of %s before its restart: %v", rec.ID, err)
		}
		a2 := startProc(t, dbURL, "node-a", envA)
		if _, err := os.Stat(spool); !os.IsNotExist(err) {
			t.Errorf("node a's spool after its restart: %v, want it dropped", err)
		}
		if !strings.Contains(a2.log.String(), "recording taken over by another node") {
			t.Errorf("node a's log does not say it dropped the spool")
		}
		after := downloadRecording(t, store, rec)
		if again, _ := os.ReadFile(after); !bytes.Equal(again, body) {
			t.Errorf("the playlist changed after node a's restart:\n%s", again)
		}
		if rs := recordings(); len(rs) != 1 || rs[0].Status != storage.RecordingComplete || rs[0].Node != "node-b" {
			t.Errorf("recordings after node a's restart: %+v", rs)
		}
	}
}

// downloadRecording copies a recording's objects out of the store and
// returns the path of its playlist there.
func downloadRecording(t *testing.T, store objstore.Store, rec storage.Recording) string {
	t.Helper()
	dir := t.TempDir()
	keys, err := store.List(t.Context(), rec.RoomID+"/"+rec.ID+"/")
	if err != nil {
		t.Fatal(err)
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
	return filepath.Join(dir, "index.m3u8")
}

var pdtLine = regexp.MustCompile(`^#EXT-X-PROGRAM-DATE-TIME:(.+)$`)

// partFigures reads a recording's playlist: the media of part 0, when it
// ends, the time between its end and the start of part 1, and the media of
// part 1.
func partFigures(t *testing.T, playlist string) (part0 time.Duration, end0 time.Time, gap, part1 time.Duration) {
	t.Helper()
	var start1, pdt time.Time
	var last float64
	for _, l := range strings.Split(playlist, "\n") {
		switch {
		case pdtLine.MatchString(l):
			p, err := time.Parse(time.RFC3339Nano, pdtLine.FindStringSubmatch(l)[1])
			if err != nil {
				t.Fatal(err)
			}
			pdt = p
		case strings.HasPrefix(l, "#EXTINF:"):
			f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(l, "#EXTINF:"), ","), 64)
			if err != nil {
				t.Fatal(err)
			}
			last = f
		case strings.HasPrefix(l, "seg-"):
			part0 += time.Duration(last * float64(time.Second))
			end0 = pdt.Add(part0)
		case strings.HasPrefix(l, "p1-seg-"):
			if start1.IsZero() {
				start1 = pdt
			}
			part1 += time.Duration(last * float64(time.Second))
		}
	}
	if !start1.IsZero() {
		gap = start1.Sub(end0)
	}
	return part0, end0, gap, part1
}
