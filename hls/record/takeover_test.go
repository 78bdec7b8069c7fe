package record

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"lectern/hls/hlstest"
	"lectern/program"
	"lectern/storage"
	"lectern/storage/objstore"
	"lectern/storage/storagetest"
)

// twoParts is a recording of two parts: part 0 (two segments, cut by its
// node's death) and part 1 (continued on another node).
func twoParts() []entry {
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	return []entry{
		{File: "init-1.mp4", Init: 1, Bytes: 800},
		{File: "seg-000001.m4s", Init: 1, DurationUS: 2e6, Bytes: 1000, PDT: t0},
		{File: "seg-000002.m4s", Init: 1, DurationUS: 2e6, Bytes: 1000, PDT: t0.Add(2 * time.Second)},
		{File: "p1-init-1.mp4", Part: 1, Init: 1, Bytes: 800},
		{File: "p1-seg-000001.m4s", Part: 1, Init: 1, DurationUS: 1500000, Bytes: 900, PDT: t0.Add(7 * time.Second)},
		{File: "p1-seg-000002.m4s", Part: 1, Init: 1, DurationUS: 2e6, Bytes: 1000, PDT: t0.Add(8500 * time.Millisecond)},
	}
}

func TestRenderVODJoinsParts(t *testing.T) {
	got := string(renderVOD(segments(twoParts())))
	want := `#EXTM3U
#EXT-X-VERSION:6
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-MAP:URI="init-1.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T08:00:00.000Z
#EXTINF:2,
seg-000001.m4s
#EXTINF:2,
seg-000002.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="p1-init-1.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T08:00:07.000Z
#EXTINF:1.5,
p1-seg-000001.m4s
#EXTINF:2,
p1-seg-000002.m4s
#EXT-X-ENDLIST
`
	if got != want {
		t.Errorf("playlist of two parts:\n%s\nwant:\n%s", got, want)
	}
	// Every name a part gives is one that playback serves.
	for _, e := range twoParts() {
		if !fileName.MatchString(e.File) {
			t.Errorf("%s is not served", e.File)
		}
	}
	if d, size := totals(twoParts()); d != 7500*time.Millisecond || size != 5500 {
		t.Errorf("totals = %v, %d", d, size)
	}
}

func TestRowForParts(t *testing.T) {
	h := header{ID: "rec_0123456789abcdef", Room: "r", StartedAt: twoParts()[1].PDT, Part: 1, Node: "b"}
	row := rowFor(h, twoParts(), 100, "complete", "loc")
	if row.Duration != 7500*time.Millisecond || row.Node != "b" || row.Part != 1 || row.SizeBytes != 5600 {
		t.Errorf("row %+v", row)
	}
	// It ends with its last segment, after the gap between the parts.
	if want := h.StartedAt.Add(10500 * time.Millisecond); !row.EndedAt.Equal(want) {
		t.Errorf("ended %v, want %v", row.EndedAt, want)
	}
}

// index renders a part's index as putIndex does.
func index(h header, entries []entry) []byte {
	var b bytes.Buffer
	jn := &journal{w: &b}
	jn.append(h)
	for _, e := range entries {
		jn.append(e)
	}
	return b.Bytes()
}

func TestParseJournal(t *testing.T) {
	h := header{ID: "rec_0123456789abcdef", Room: "r", Part: 1, Node: "b"}
	gotH, got, err := parseJournal(bytes.NewReader(index(h, twoParts())))
	if err != nil || gotH.ID != h.ID || gotH.Part != 1 || gotH.Node != "b" || len(got) != 6 {
		t.Fatalf("parse = %+v, %d entries, %v", gotH, len(got), err)
	}
	// A part's index names no file of a later part; entries stop at the
	// first that is not valid.
	h.Part = 0
	if _, got, err := parseJournal(bytes.NewReader(index(h, twoParts()))); err != nil || len(got) != 3 {
		t.Errorf("part 0 index with part 1 entries: %d entries, %v; want the 3 of part 0", len(got), err)
	}
	bad := []entry{
		{File: "../seg-000001.m4s", Init: 1},
		{File: "seg-000001.m4s", Init: 0},
		{File: "p1-seg-000001.m4s", Init: 1}, // part 0 entry with a part 1 name
		{File: "seg-000001.m4s", Init: 1, DurationUS: -1},
		{File: "index.m3u8", Init: 1},
		{File: "init-2.mp4", Init: 1},
	}
	for _, e := range bad {
		if _, got, _ := parseJournal(bytes.NewReader(index(header{ID: h.ID, Part: 3}, []entry{e}))); len(got) != 0 {
			t.Errorf("%+v accepted", e)
		}
	}
	for _, in := range []string{"", "{}\n", `{"id":"../x"}` + "\n", `{"id":"rec_0123456789abcdef","part":-1}` + "\n", "not json\n"} {
		if _, _, err := parseJournal(strings.NewReader(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func FuzzParseJournal(f *testing.F) {
	f.Add(index(header{ID: "rec_0123456789abcdef", Part: 1}, twoParts()))
	f.Add([]byte(`{"id":"rec_0123456789abcdef"}` + "\n" + `{"file":"seg-000001.m4s","init":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, entries, err := parseJournal(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Part > h.Part || !fileName.MatchString(e.File) || e.File == playlistName || e.DurationUS < 0 {
				t.Fatalf("accepted %+v in part %d", e, h.Part)
			}
		}
		renderVOD(segments(entries))
	})
}

// stallStore is an object store that a test can cut off from one node:
// while stalled, every write fails, as from a node that froze or lost its
// network.
type stallStore struct {
	objstore.Store
	stalled atomic.Bool
}

func (s *stallStore) Put(ctx context.Context, key string, r io.Reader, size int64, ctype string) error {
	if s.stalled.Load() {
		return errors.New("stalled")
	}
	return s.Store.Put(ctx, key, r, size, ctype)
}

// TestTakeOverFromStore: node a records a broadcast into a store shared
// with node b; node a then freezes (its heartbeats and its row's writes
// stop, its uploads fail) while its program goes on. Node b judges it dead and, the
// broadcast not resuming on b within the resume window, finishes the
// recording from what reached the store: one recording, complete, written
// by b in part 1, playing for what node a had uploaded. When node a comes
// back and ends its recording, its writes are refused, its uploader stops at
// its next index and drops its spool: the playlist stays b's.
func TestTakeOverFromStore(t *testing.T) {
	clip := hlstest.NewClip(t, 640, 360, 4, "cam")
	sound := hlstest.NewSound(t, 4, 440)
	local, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	storeA := &stallStore{Store: local}
	cfgA := testConfig(t)
	// Dead after 3 s of heartbeats every 100 ms: a loaded machine does not
	// judge node a dead before the test freezes it.
	cfgA.NodeID, cfgA.DeadAfter, cfgA.AdoptWindow = "a", 3*time.Second, 2*time.Second
	tr := newTestRecorder(t, storeA, cfgA)
	tr.store = local
	// While node a is frozen its writer cannot write its row either.
	thaw := make(chan struct{})
	var frozen atomic.Bool
	tr.rec.holdSaves = func() {
		if frozen.Load() {
			<-thaw
		}
	}
	cfgB := testConfig(t)
	cfgB.NodeID, cfgB.DeadAfter, cfgB.AdoptWindow = "b", 3*time.Second, 2*time.Second
	b, err := New(cfgB, Deps{DB: tr.db, Store: local, HLS: tr.progs, Secret: testSecret, Log: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		b.Shutdown(ctx)
	})
	// Heartbeats of both nodes until node a stalls.
	var aStalled atomic.Bool
	beat := func() {
		for _, n := range []string{"a", "b"} {
			if n == "a" && aStalled.Load() {
				continue
			}
			if _, err := tr.db.Heartbeat(context.Background(), storage.Node{ID: n, URL: "http://" + n}); err != nil {
				t.Error(err)
			}
		}
	}
	beat()
	stopBeats := make(chan struct{})
	beats := make(chan struct{})
	go func() {
		defer close(beats)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopBeats:
				return
			case <-tick.C:
				beat()
			}
		}
	}()
	t.Cleanup(func() { close(stopBeats); <-beats })
	if err := b.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}

	tr.record("talk", clip, sound)
	before := tr.waitRecording("talk", 30*time.Second, func(r storage.Recording) bool {
		return r.Node == "a" && r.Duration >= 4*time.Second
	})
	frozen.Store(true)
	storeA.stalled.Store(true)
	aStalled.Store(true)
	stalled := time.Now()

	rec := tr.waitRecording("talk", 30*time.Second, isStatus(storage.RecordingComplete))
	if rec.ID != before.ID || rec.Node != "b" || rec.Part != 1 {
		t.Fatalf("finished %+v; want %s by b in part 1", rec, before.ID)
	}
	if rs, _ := tr.db.Recordings(t.Context(), "talk"); len(rs) != 1 {
		t.Fatalf("recordings: %+v", rs)
	}
	t.Logf("node a stalled with %v journaled; node b finished %v from the store %v later", before.Duration, rec.Duration,
		time.Since(stalled).Round(time.Millisecond))
	if rec.Duration < before.Duration-3*time.Second || rec.Duration > before.Duration+3*time.Second {
		t.Errorf("finished with %v; node a had journaled %v when it stalled", rec.Duration, before.Duration)
	}
	playlist := tr.download(rec)
	body, err := os.ReadFile(playlist)
	if err != nil {
		t.Fatal(err)
	}
	checkPlays(t, playlist, body, rec.Duration, time.Second)
	if keys, _ := local.List(t.Context(), prefix("talk", rec.ID)+indexPrefix); len(keys) != 0 {
		t.Errorf("part indexes left in the store: %v", keys)
	}

	// Node a comes back: it writes again, can upload again, and its
	// recording ends.
	frozen.Store(false)
	close(thaw)
	storeA.stalled.Store(false)
	tr.stopRecording("talk")
	spool := filepath.Join(cfgA.SpoolDir, rec.ID)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(spool); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node a kept its spool of the recording taken over")
		}
		time.Sleep(50 * time.Millisecond)
	}
	again, err := os.ReadFile(tr.download(rec))
	if err != nil || !bytes.Equal(again, body) {
		t.Errorf("playlist after node a came back (%v):\n%s\nwas:\n%s", err, again, body)
	}
	if got, err := tr.db.Recording(t.Context(), rec.ID); err != nil || got.Status != storage.RecordingComplete || got.Node != "b" || got.Duration != rec.Duration {
		t.Errorf("row after node a came back: %+v, %v", got, err)
	}
}

// TestSweepFinishesFromIndex: a recording that this node took over (part
// 1) and that no segment followed, so that it has no job or spool here, is
// finished by this node's sweep from the index in the store once the resume
// window has passed: its playlist is the stored part 0's, the row complete.
func TestSweepFinishesFromIndex(t *testing.T) {
	store, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db := storagetest.Open(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	cfg := testConfig(t)
	cfg.NodeID, cfg.DeadAfter, cfg.AdoptWindow = "b", time.Second, time.Second
	progs := program.NewSet(nil, testLogger()) // no room records here
	rec, err := New(cfg, Deps{DB: db, Store: store, HLS: progs, Secret: testSecret, Log: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.Shutdown(context.Background()); progs.Close() })
	const id = "rec_00000000000000aa"
	part0 := twoParts()[:3]
	started := time.Now().Add(-time.Minute)
	idx := index(header{ID: id, Room: "talk", StartedAt: started, Node: "a"}, part0)
	if err := store.Put(t.Context(), prefix("talk", id)+indexName(0), bytes.NewReader(idx), int64(len(idx)), "application/jsonl"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateRecording(t.Context(), storage.Recording{ID: id, RoomID: "talk", Status: storage.RecordingActive,
		StartedAt: started, Duration: 4 * time.Second, Node: "b", Part: 1}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	var got storage.Recording
	deadline := time.Now().Add(20 * time.Second)
	for got.Status != storage.RecordingComplete {
		if time.Now().After(deadline) {
			t.Fatalf("not finished: %+v", got)
		}
		time.Sleep(50 * time.Millisecond)
		if got, err = db.Recording(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	if got.Node != "b" || got.Part != 2 || got.Duration != 4*time.Second || got.SizeBytes <= 2800 {
		t.Errorf("finished row %+v", got)
	}
	o, err := store.Open(t.Context(), prefix("talk", id)+playlistName)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(o)
	o.Close()
	if want := renderVOD(segments(part0)); !bytes.Equal(body, want) {
		t.Errorf("playlist:\n%s\nwant:\n%s", body, want)
	}
	if keys, _ := store.List(t.Context(), prefix("talk", id)+indexPrefix); len(keys) != 0 {
		t.Errorf("indexes left: %v", keys)
	}
}
