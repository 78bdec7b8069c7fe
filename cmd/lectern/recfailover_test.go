package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
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
// then loses the store (a proxy between it and MinIO cuts it off), and is
// killed with kill -9 once a segment waits in its spool. In "resumes", the
// encoder's reconnect loop brings the broadcast back through node b, which
// continues the same recording in a second part, its timestamps going on
// from where node a's stored part ends; in "ends", the broadcast does not
// come back and node b finishes the recording from what reached the store
// once the resume window has passed. Either way the room has one
// recording, complete, that lost exactly what waited in node a's spool
// (and the segment being cut), and that ffmpeg decodes as one timeline:
// its frames' times always increase, with no gap at the join, for as long
// as the playlist says. Node a, restarted with its spool and the store
// back, drops the spool: nothing more is written.
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
	// Node a reaches the store through a proxy that the test can cut.
	proxy := startStoreProxy(t, minio.Endpoint)
	dataA := t.TempDir()
	envA := map[string]string{"LECTERN_DATA_DIR": dataA}
	for k, v := range env {
		envA[k] = v
	}
	envA["LECTERN_S3_ENDPOINT"] = proxy.addr()
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

	// Node a loses the store: what it records from now on waits in its
	// spool. It is killed as soon as a segment waits there.
	spool := filepath.Join(dataA, "spool", before.ID)
	proxy.setCut(true)
	waitFor(t, "a segment waiting in node a's spool", 30*time.Second, func() bool { return len(spoolPending(t, spool)) > 0 })
	a.signal(t, syscall.SIGKILL)
	killed := time.Now()
	<-a.exited
	pending := spoolPending(t, spool)
	journaled := spoolJournal(t, spool)
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
	// What node a's part lost is what waited in its spool, and the
	// segment it was cutting.
	loss := checkLoss(t, string(body), journaled, pending, killed)
	if j := journaledDuration(journaled); stored0 < j-loss-5*time.Millisecond || stored0 > j-loss+5*time.Millisecond {
		t.Errorf("node a journaled %v and lost %v; its part in the store is %v", j, loss, stored0)
	}
	played := hlstest.Duration(t, local)
	if d := played - rec.Duration; d < -2*time.Second || d > 2*time.Second {
		t.Errorf("ffprobe reads %v of the recording, its row says %v", played, rec.Duration)
	}
	tl := checkTimeline(t, local, stored0+stored1)
	if resumes {
		// A second player across the join (it plays in real time).
		tl += "; gohlslib: " + checkGohlslib(t, filepath.Dir(local), stored0+stored1)
	}
	t.Logf("FIGURE recording across kill -9 with node a cut off the store (resumes %v): node a journaled %v in %d segments, %d waited in its spool (%v lost, the store had %v); the kill %v after the end of the last journaled segment (the segment being cut held that); stored media end %v before the kill; gap between the parts %v; node b's part %v; one recording of %v, complete %v after the kill; ffprobe duration %v; ffprobe decoded %s",
		resumes, journaledDuration(journaled), len(journaled), len(pending), loss, stored0, killed.Sub(journalEnd(journaled)).Round(time.Millisecond),
		killed.Sub(end0).Round(time.Millisecond), gap.Round(time.Millisecond), stored1, rec.Duration,
		finished.Round(time.Millisecond), played.Round(time.Millisecond), tl)

	// Node a comes back with its spool, the store reachable again: it drops
	// the spool, writing nothing. (A file of the spool may be in the store
	// already, unreferenced: uploaded, its index not.)
	// The part indexes go once the recording is complete (just after its
	// row says so).
	var keys []string
	waitFor(t, "no part index left in the store of the complete recording", 10*time.Second, func() bool {
		var err error
		if keys, err = store.List(t.Context(), rec.RoomID+"/"+rec.ID+"/"); err != nil {
			t.Fatal(err)
		}
		return !slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(k, "journal-") })
	})
	proxy.setCut(false)
	a2 := startProc(t, dbURL, "node-a", envA)
	if _, err := os.Stat(spool); !os.IsNotExist(err) {
		t.Errorf("node a's spool after its restart: %v, want it dropped", err)
	}
	if !strings.Contains(a2.log.String(), "recording taken over by another node") {
		t.Errorf("node a's log does not say it dropped the spool")
	}
	if again, err := store.List(t.Context(), rec.RoomID+"/"+rec.ID+"/"); err != nil || !slices.Equal(again, keys) {
		t.Errorf("the store after node a's restart: %v %v; before: %v", again, err, keys)
	}
	after := downloadRecording(t, store, rec)
	if again, _ := os.ReadFile(after); !bytes.Equal(again, body) {
		t.Errorf("the playlist changed after node a's restart:\n%s", again)
	}
	if rs := recordings(); len(rs) != 1 || rs[0].Status != storage.RecordingComplete || rs[0].Node != "node-b" || rs[0].Duration != rec.Duration {
		t.Errorf("recordings after node a's restart: %+v", rs)
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
		if errors.Is(err, objstore.ErrNotFound) && strings.Contains(path.Base(key), "journal-") {
			continue // a part index, removed once the recording is complete
		}
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
