package api

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lectern/access"
	"lectern/hls"
	"lectern/hls/hlstest"
	"lectern/hls/record"
	"lectern/program"
	"lectern/storage/objstore"
	"lectern/storage/objstore/miniotest"
	"lectern/storage/storagetest"
)

// withRecorder gives the test API an HLS service and a recorder on store.
func withRecorder(t *testing.T, store objstore.Store, rec **record.Recorder) func(*Deps) {
	return func(d *Deps) {
		secret := bytes.Repeat([]byte{3}, 32)
		progs := program.NewSet(d.SFU, d.Log)
		svc, err := hls.New(hls.DefaultConfig(), progs, secret, d.Log)
		if err != nil {
			t.Fatal(err)
		}
		cfg := record.DefaultConfig(filepath.Join(t.TempDir(), "spool"))
		cfg.RetryMin, cfg.RetryMax = 100*time.Millisecond, 500*time.Millisecond
		r, err := record.New(cfg, record.Deps{DB: d.DB, Store: store, HLS: progs, Secret: secret, Log: d.Log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r.Shutdown(ctx)
			svc.Close()
			progs.Close()
		})
		d.HLS, d.Recorder, *rec = svc, r, r
	}
}

// waitRecordings polls the room's recordings until ok accepts the newest.
func (a *testAPI) waitRecording(room string, timeout time.Duration, ok func(map[string]any) bool) map[string]any {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var last map[string]any
	for time.Now().Before(deadline) {
		r := a.must(http.StatusOK, "GET", "/api/v1/rooms/"+room+"/recordings", a.adminKey, nil)
		if list, _ := r.body["recordings"].([]any); len(list) > 0 {
			last = list[0].(map[string]any)
			if ok(last) {
				return last
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.t.Fatalf("room %s: newest recording not as wanted after %v: %v", room, timeout, last)
	return nil
}

func status(want string) func(map[string]any) bool {
	return func(r map[string]any) bool { return r["status"] == want }
}

// TestRecordingAPI: a host publishing H.264 and Opus over the websocket in a
// webinar with broadcast.record on is recorded through a 10 s outage of the
// object store (MinIO stopped and started again); the API lists the
// recording, its playback_url plays in ffprobe for the length recorded, and
// DELETE removes it and its objects. Wrong credentials get 401 or 403, an
// unknown recording 404. The same with the local directory store.
func TestRecordingAPI(t *testing.T) {
	clip := hlstest.NewClip(t, 640, 360, 4, "cam")
	sound := hlstest.NewSound(t, 4, 440)
	for _, tc := range miniotest.Cases("lectern") {
		t.Run(tc.Name, func(t *testing.T) {
			began := time.Now()
			store, minio := tc.Open(t)
			var rec *record.Recorder
			a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()}, withRecorder(t, store, &rec))
			a.createRoom(map[string]any{"id": "talk", "name": "Talk", "mode": "webinar"})
			a.must(http.StatusOK, "PATCH", "/api/v1/rooms/talk/broadcast", a.adminKey, map[string]any{"record": true})
			host := dialRoom(t, a, "talk", a.tokenFor("host", "talk", access.Host))
			host.next("welcome")
			hlstest.Publish(t, wsSignal(host), hlstest.Track{Source: "camera", Clip: clip}, hlstest.Track{Source: "microphone", Sound: sound})

			live := a.waitRecording("talk", 20*time.Second, status("recording"))
			if live["ended_at"] != nil || live["playback_url"] != nil {
				t.Errorf("a recording being written: %v", live)
			}
			if r := a.do("DELETE", "/api/v1/rooms/talk/recordings/"+live["id"].(string), a.adminKey, nil); r.status != http.StatusConflict || r.code() != codeRecordingActive {
				t.Errorf("DELETE while recording: %d %s", r.status, r.raw)
			}
			time.Sleep(3 * time.Second)
			if minio != nil {
				minio.Stop()
				time.Sleep(10 * time.Second)
				minio.Restart()
			}
			time.Sleep(2 * time.Second)
			a.must(http.StatusOK, "PATCH", "/api/v1/rooms/talk/broadcast", a.adminKey, map[string]any{"record": false})
			stopped := time.Now()
			got := a.waitRecording("talk", 30*time.Second, status("complete"))
			id := got["id"].(string)
			started, _ := time.Parse(time.RFC3339, got["started_at"].(string))
			ended, err := time.Parse(time.RFC3339, got["ended_at"].(string))
			if err != nil || got["room"] != "talk" {
				t.Fatalf("recording %v", got)
			}
			duration := time.Duration(got["duration_ms"].(float64)) * time.Millisecond
			segment := record.DefaultConfig("x").Segments.SegmentDuration
			// Within one segment (and the second of started_at's rounding),
			// less what a starved machine's SFU may have dropped (hls/record's covers).
			if want := stopped.Sub(started); duration > want+segment+time.Second || duration < want-segment-time.Second-want/10 {
				t.Errorf("duration %v, recorded from %v to %v", duration, started, stopped)
			}
			if ended.Before(started) || got["size_bytes"].(float64) < 10000 {
				t.Errorf("recording %v", got)
			}

			// The playback URL plays, end to end, for as long as recorded.
			url := got["playback_url"].(string)
			if strings.HasPrefix(url, "/") {
				url = a.url + url
			}
			var video, audio bool
			for _, s := range hlstest.Probe(t, url) {
				video = video || s.CodecName == "h264" && s.Width == 640 && s.Height == 360
				audio = audio || s.CodecName == "opus"
			}
			if !video || !audio {
				t.Errorf("ffprobe did not find h264 640x360 and opus at the playback URL")
			}
			if d := hlstest.Duration(t, url) - duration; d > segment || d < -segment {
				t.Errorf("ffprobe duration differs from the recorded %v by %v", duration, d)
			}
			forged := strings.Replace(url, "/index.m3u8", "x/index.m3u8", 1)
			if r := a.do("GET", strings.TrimPrefix(forged, a.url), "", nil); r.status != http.StatusForbidden || r.code() != codeRecordingSession {
				t.Errorf("forged session: %d %s", r.status, r.raw)
			}

			// One recording, newest first, for the admin and a moderator; not for others.
			path := "/api/v1/rooms/talk/recordings/" + id
			mod := a.tokenFor("mod", "talk", access.Moderate)
			if r := a.must(http.StatusOK, "GET", path, mod, nil); r.str("id") != id || r.str("status") != "complete" {
				t.Errorf("GET as moderator: %s", r.raw)
			}
			for _, c := range []struct {
				auth string
				want int
			}{
				{"", http.StatusUnauthorized},
				{"not-a-key", http.StatusUnauthorized},
				{"x.y.z", http.StatusUnauthorized},
				{a.tokenFor("viewer", "talk", access.Viewer), http.StatusForbidden},
				{a.tokenFor("mod", "other", access.Moderate), http.StatusUnauthorized},
			} {
				for _, m := range []string{"GET", "DELETE"} {
					if r := a.do(m, path, c.auth, nil); r.status != c.want || r.code() == "" {
						t.Errorf("%s with %q: %d %s, want %d", m, c.auth, r.status, r.raw, c.want)
					}
				}
			}
			for _, p := range []string{"/api/v1/rooms/talk/recordings/rec_0000000000000000", "/api/v1/rooms/other/recordings/" + id} {
				for _, m := range []string{"GET", "DELETE"} {
					if r := a.do(m, p, a.adminKey, nil); r.status != http.StatusNotFound || r.code() != codeRecordingNotFound {
						t.Errorf("%s %s: %d %s", m, p, r.status, r.raw)
					}
				}
			}

			a.must(http.StatusNoContent, "DELETE", path, mod, nil)
			if r := a.do("GET", path, a.adminKey, nil); r.status != http.StatusNotFound || r.code() != codeRecordingNotFound {
				t.Errorf("GET after DELETE: %d %s", r.status, r.raw)
			}
			if r := a.must(http.StatusOK, "GET", "/api/v1/rooms/talk/recordings", a.adminKey, nil); len(r.body["recordings"].([]any)) != 0 {
				t.Errorf("list after DELETE: %s", r.raw)
			}
			if keys, err := store.List(t.Context(), "talk/"); err != nil || len(keys) != 0 {
				t.Errorf("objects left after DELETE: %v %v", keys, err)
			}
			if r := a.do("GET", strings.TrimPrefix(url, a.url), "", nil); r.status != http.StatusNotFound {
				t.Errorf("playback after DELETE: %d", r.status)
			}
			t.Logf("took %v", time.Since(began))
		})
	}
}
