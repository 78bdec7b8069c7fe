// Package record keeps broadcasts: with a room's broadcast.record on, its
// on-air program is cut into fMP4 HLS segments (as the LL-HLS muxer cuts
// them), spooled on local disk, and uploaded with retries to an object store
// (a local directory or MinIO/S3), where it becomes a VOD playlist that the
// API lists and plays back. The metadata are in the database.
package record

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"lectern/hls"
	"lectern/program"
	"lectern/storage"
	"lectern/storage/objstore"
)

// Deps are what the recorder works with.
type Deps struct {
	DB    *storage.DB
	Store objstore.Store
	// HLS gives the rooms' programs: the program.Set that the HLS muxer
	// and RTSP out consume too (or an hls.Service, which passes to its set).
	HLS Programs
	// Secret keys the playback URLs' signatures.
	Secret []byte
	Log    *slog.Logger
}

// Programs gives the recorder a room's on-air program (program.Set).
type Programs interface {
	Subscribe(room string, c program.Consumer) (*program.Subscription, error)
}

// Recorder records the rooms that have recording on. cfgMu serializes
// Configure and Shutdown (it is held while subscribing to programs, which
// never call back into the recorder under it); mu guards the job table and
// closing, and is taken by program goroutines when a recording starts.
type Recorder struct {
	cfg   Config
	db    *storage.DB
	store objstore.Store
	progs Programs
	log   *slog.Logger
	sign  hls.Signer

	// uploadCtx ends when shutdown gives up: uploads stop retrying and
	// leave their spool for the next start.
	uploadCtx   context.Context
	stopUploads context.CancelFunc
	// stopSweep ends the sweep of recordings whose node died (takeover.go);
	// swept is closed when it has ended.
	stopSweep context.CancelFunc
	swept     chan struct{}

	cfgMu  sync.Mutex
	rooms  map[string]*roomRecorder
	closed bool

	// holdSaves, set by tests, runs before each write of a recording's
	// row by its writer (it blocks while a test freezes the node).
	holdSaves func()

	mu      sync.Mutex
	jobs    map[string]*job
	closing bool
	wg      sync.WaitGroup
}

// job is one recording's goroutines (a writer while it is being recorded,
// an uploader until it is in the object store).
type job struct {
	// id and dir change, under Recorder.mu, before the uploader starts
	// when the job continues a recording taken over (continueOrphan).
	id, room string
	dir      string
	// writing is true while the recording is being written.
	writing atomic.Bool
	// kick wakes the uploader when the writer added a file.
	kick chan struct{}
	// cancel stops the uploader (shutdown, delete); done is closed when
	// the job's goroutines have ended.
	cancel context.CancelFunc
	done   chan struct{}
}

// prefix is the recording's folder in the object store.
func prefix(room, id string) string { return room + "/" + id + "/" }

// New builds the recorder. It starts nothing: Resume uploads what an
// earlier run left, Configure records rooms, Shutdown finishes.
func New(cfg Config, d Deps) (*Recorder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.DB == nil || d.Store == nil || d.HLS == nil || d.Log == nil || len(d.Secret) < 16 {
		return nil, errors.New("record: the database, object store, programs, logger and a secret of at least 16 bytes are required")
	}
	if err := os.MkdirAll(cfg.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("record_spool_dir: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Recorder{cfg: cfg, db: d.DB, store: d.Store, progs: d.HLS, log: d.Log.With("component", "recorder"),
		sign: hls.NewSigner(d.Secret, "lectern recording playback v1"), uploadCtx: ctx, stopUploads: cancel,
		rooms: map[string]*roomRecorder{}, jobs: map[string]*job{}}, nil
}

// Configure starts or stops recording a room. The room's program must be
// running (hls.Service.Configure with Record on holds it; it comes first). Stopping
// finishes the recording in progress; its upload goes on.
func (r *Recorder) Configure(room string, on bool) error {
	r.cfgMu.Lock()
	defer r.cfgMu.Unlock()
	if r.closed {
		return ErrClosed
	}
	rr := r.rooms[room]
	switch {
	case on && rr == nil:
		rr = &roomRecorder{rec: r, room: room}
		sub, err := r.progs.Subscribe(room, rr)
		if err != nil {
			return fmt.Errorf("record: room %s: %w", room, err)
		}
		rr.sub.Store(sub)
		r.rooms[room] = rr
		r.log.Info("recording on", "room", room)
	case !on && rr != nil:
		delete(r.rooms, room)
		rr.stop()
		r.log.Info("recording off", "room", room)
	}
	return nil
}

// startJob registers a job (writing, or only uploading) and runs fn for it on a goroutine the recorder
// waits for. It returns nil once shutdown has begun.
func (r *Recorder) startJob(id, room string, writing bool, fn func(ctx context.Context, j *job)) *job {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing || r.jobs[id] != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(r.uploadCtx)
	j := &job{id: id, room: room, dir: filepath.Join(r.cfg.SpoolDir, id), kick: make(chan struct{}, 1),
		cancel: cancel, done: make(chan struct{})}
	j.writing.Store(writing)
	r.jobs[id] = j
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			cancel()
			r.mu.Lock()
			delete(r.jobs, j.id) // j.id may have changed: continueOrphan
			r.mu.Unlock()
			close(j.done)
		}()
		fn(ctx, j)
	}()
	return j
}

// wake tells j's uploader that there is something new to upload.
func (j *job) wake() {
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

// Shutdown finishes every recording in progress (the last segment and the
// playlist are written) and waits for their uploads until ctx ends; what is
// not uploaded by then stays in the spool for Resume on the next start.
func (r *Recorder) Shutdown(ctx context.Context) error {
	r.cfgMu.Lock()
	if r.closed {
		r.cfgMu.Unlock()
		return nil
	}
	r.closed = true
	rooms := r.rooms
	r.rooms = nil
	stopSweep, swept := r.stopSweep, r.swept
	r.cfgMu.Unlock()
	if stopSweep != nil {
		stopSweep()
		<-swept
	}
	for _, rr := range rooms {
		rr.stop()
	}
	r.mu.Lock()
	r.closing = true
	pending := len(r.jobs)
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		r.log.Warn("shutdown deadline: uploads left in the spool for the next start", "recordings", pending)
		err = ctx.Err()
	}
	r.stopUploads()
	<-done
	return err
}

// newID returns a new recording ID.
func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "rec_" + hex.EncodeToString(b)
}

// validID reports whether s has the shape of a recording ID, so that it can
// name a spool directory and an object prefix.
func validID(s string) bool {
	if len(s) != 20 || s[:4] != "rec_" {
		return false
	}
	_, err := hex.DecodeString(s[4:])
	return err == nil
}
