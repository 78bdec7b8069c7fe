package record

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lectern/access"
	"lectern/hls"
	"lectern/hls/hlstest"
	"lectern/program"
	"lectern/sfu"
	"lectern/storage"
	"lectern/storage/objstore"
	"lectern/storage/storagetest"
)

var testSecret = bytes.Repeat([]byte{5}, 32)

func testLogger() *slog.Logger {
	if os.Getenv("RECORD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testRecorder is a real SFU, HLS service, SQLite store and recorder, with
// the playback route on a loopback HTTP server (the API serves it in production).
type testRecorder struct {
	t     *testing.T
	media *sfu.SFU
	progs *program.Set
	hls   *hls.Service
	db    *storage.DB
	store objstore.Store
	rec   *Recorder
	cfg   Config
	url   string
}

func testConfig(t *testing.T) Config {
	cfg := DefaultConfig(filepath.Join(t.TempDir(), "spool"))
	cfg.RetryMin, cfg.RetryMax = 100*time.Millisecond, 500*time.Millisecond
	return cfg
}

func newTestRecorder(t *testing.T, store objstore.Store, cfg Config) *testRecorder {
	t.Helper()
	log := testLogger()
	media, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", Loopback: true}, log)
	if err != nil {
		t.Fatal(err)
	}
	progs := program.NewSet(media, log)
	svc, err := hls.New(hls.DefaultConfig(), progs, testSecret, log)
	if err != nil {
		t.Fatal(err)
	}
	tr := &testRecorder{t: t, media: media, progs: progs, hls: svc, store: store, cfg: cfg,
		db: storagetest.Open(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})}
	tr.rec = tr.newRecorder()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /recordings/{room}/{id}/{session}/{file}", func(w http.ResponseWriter, r *http.Request) {
		err := tr.rec.Serve(w, r, r.PathValue("room"), r.PathValue("id"), r.PathValue("session"), r.PathValue("file"))
		switch {
		case errors.Is(err, hls.ErrSession):
			http.Error(w, err.Error(), http.StatusForbidden)
		case err != nil:
			http.Error(w, err.Error(), http.StatusNotFound)
		}
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		tr.rec.Shutdown(ctx)
		svc.Close()
		progs.Close()
		media.Close()
	})
	tr.url = hs.URL
	return tr
}

// newRecorder builds a recorder on the harness's parts (a restart).
func (tr *testRecorder) newRecorder() *Recorder {
	tr.t.Helper()
	rec, err := New(tr.cfg, Deps{DB: tr.db, Store: tr.store, HLS: tr.progs, Secret: testSecret, Log: testLogger()})
	if err != nil {
		tr.t.Fatal(err)
	}
	return rec
}

// record turns recording on in a broadcasting room and publishes clip and
// sound into it from a host.
func (tr *testRecorder) record(room string, clip *hlstest.Clip, sound *hlstest.Sound) *hlstest.Publisher {
	t := tr.t
	t.Helper()
	opts := sfu.RoomOptions{Broadcast: true, Tier: access.FHD}
	if err := tr.hls.Configure(room, hls.Settings{Record: true, Media: opts}); err != nil {
		t.Fatal(err)
	}
	if err := tr.rec.Configure(room, true); err != nil {
		t.Fatal(err)
	}
	r, err := tr.media.Room(room, opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Join(sfu.ParticipantOptions{Identity: "host", Kind: sfu.KindBrowser,
		Permissions: (access.Publish | access.Subscribe | access.Moderate)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close("test over") })
	return hlstest.Publish(t, p.Publish, hlstest.Track{Source: sfu.SourceCamera, Clip: clip},
		hlstest.Track{Source: sfu.SourceMicrophone, Sound: sound})
}

// stopRecording turns recording off in room.
func (tr *testRecorder) stopRecording(room string) {
	tr.t.Helper()
	if err := tr.rec.Configure(room, false); err != nil {
		tr.t.Fatal(err)
	}
	if err := tr.hls.Configure(room, hls.Settings{}); err != nil {
		tr.t.Fatal(err)
	}
}

// waitRecording polls the room's newest recording until ok accepts it.
func (tr *testRecorder) waitRecording(room string, timeout time.Duration, ok func(storage.Recording) bool) storage.Recording {
	tr.t.Helper()
	deadline := time.Now().Add(timeout)
	var last storage.Recording
	for time.Now().Before(deadline) {
		rs, err := tr.db.Recordings(tr.t.Context(), room)
		if err != nil {
			tr.t.Fatal(err)
		}
		if len(rs) > 0 {
			last = rs[0]
			if ok(last) {
				return last
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	tr.t.Fatalf("room %s: recording not as wanted after %v; last %+v", room, timeout, last)
	return last
}

func isStatus(status string) func(storage.Recording) bool {
	return func(r storage.Recording) bool { return r.Status == status }
}

// download copies a recording's objects (but the part indexes, dropped
// once it is complete) into a temporary directory and returns the path of
// its playlist there.
func (tr *testRecorder) download(rec storage.Recording) string {
	t := tr.t
	t.Helper()
	keys, err := tr.store.List(t.Context(), prefix(rec.RoomID, rec.ID))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, k := range keys {
		if strings.HasPrefix(path.Base(k), indexPrefix) {
			continue
		}
		o, err := tr.store.Open(t.Context(), k)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(o)
		o.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(k)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, playlistName)
}
