package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"lectern/storage"
)

// upload moves a recording's spool into the object store: every media file
// as it appears (removed from the spool once stored), then, when the
// playlist is there, the playlist, last, and the row says complete. It
// returns when that is done, or when ctx ends (shutdown gave up, the
// recording was deleted, or it failed or was empty).
func (r *Recorder) upload(ctx context.Context, j *job) {
	log := r.log.With("room", j.room, "recording", j.id)
	for {
		done, err := r.uploadSpool(ctx, j, log)
		if done || ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Error("recording upload stopped", "err", err)
			return
		}
		select {
		case <-j.kick:
		case <-ctx.Done():
			return
		}
	}
}

// mediaFile reports whether a spool file is a finished media file.
func mediaFile(name string) bool {
	return !strings.HasPrefix(name, ".") && (strings.HasSuffix(name, ".m4s") || strings.HasSuffix(name, ".mp4"))
}

// uploadSpool uploads what the spool holds; done once the recording is complete.
func (r *Recorder) uploadSpool(ctx context.Context, j *job, log *slog.Logger) (done bool, err error) {
	for {
		files, err := os.ReadDir(j.dir)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil // no segment yet
		}
		if err != nil {
			return false, err
		}
		final, uploaded := false, 0
		for _, f := range files {
			switch name := f.Name(); {
			case name == playlistName:
				final = true
			case mediaFile(name):
				if err := r.putFile(ctx, j, name, log); err != nil {
					return false, ignoreEnded(ctx, err)
				}
				if r.cfg.NodeID != "" {
					// In a cluster the store says what reached it, for a
					// node finishing the recording if this one dies: the
					// index names the file before the spool lets it go,
					// so that what such a node cannot find is what the
					// spool still held.
					if err := r.putIndex(ctx, j, name, log); errors.Is(err, errTakenOver) {
						return true, nil
					} else if err != nil {
						return false, ignoreEnded(ctx, err)
					}
				}
				os.Remove(filepath.Join(j.dir, name))
				uploaded++
			}
		}
		if !final {
			return false, nil
		}
		if uploaded == 0 {
			return true, r.complete(ctx, j, log)
		}
		// The playlist came last: look again for anything written meanwhile.
	}
}

// complete uploads the playlist and marks the recording complete.
func (r *Recorder) complete(ctx context.Context, j *job, log *slog.Logger) error {
	h, entries, err := readJournal(j.dir)
	if err != nil {
		return err
	}
	if r.takenOver(ctx, h, j.dir, log) {
		return nil
	}
	if err := r.putFile(ctx, j, playlistName, log); err != nil {
		return ignoreEnded(ctx, err)
	}
	body, err := os.ReadFile(filepath.Join(j.dir, playlistName))
	if err != nil {
		return err
	}
	row := rowFor(h, entries, len(body), storage.RecordingComplete, r.store.Location(prefix(j.room, j.id)))
	err = r.retry(ctx, log, "metadata", func(ctx context.Context) error {
		_, err := r.saveRow(ctx, row, true)
		return err
	})
	if errors.Is(err, storage.ErrConflict) {
		r.takenOver(ctx, h, j.dir, log)
		return nil
	}
	if err != nil {
		return nil // ctx ended: the spool (with its playlist) stays for the next start
	}
	if r.cfg.NodeID != "" {
		r.dropIndexes(ctx, j.room, j.id, log)
	}
	os.RemoveAll(j.dir)
	log.Info("recording complete", "duration", row.Duration, "bytes", row.SizeBytes, "location", row.Location)
	return nil
}

// takenOver reports whether another node writes the recording of journal
// h now (in a later part than h's): it took the recording over after this
// node was judged dead (takeover.go). Then the spool in dir is dropped: what it holds that is not
// in the store was given up by the node that took over, whose playlist
// names only what reached the store.
func (r *Recorder) takenOver(ctx context.Context, h header, dir string, log *slog.Logger) bool {
	rec, err := r.db.Recording(ctx, h.ID)
	if err != nil || rec.Part <= h.Part {
		return false
	}
	log.Warn("recording taken over by another node while this one was judged dead: its spool here is dropped",
		"node", rec.Node, "part", rec.Part, "status", rec.Status)
	os.RemoveAll(dir)
	return true
}

// ignoreEnded drops the error of an upload that stopped because ctx ended:
// its spool stays for later.
func ignoreEnded(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// putFile uploads one spool file, retrying until it is stored or ctx ends.
func (r *Recorder) putFile(ctx context.Context, j *job, name string, log *slog.Logger) error {
	data, err := os.ReadFile(filepath.Join(j.dir, name))
	if err != nil {
		return err
	}
	ctype := "video/mp4"
	if name == playlistName {
		ctype = "application/vnd.apple.mpegurl"
	}
	key := prefix(j.room, j.id) + name
	return r.retry(ctx, log, key, func(ctx context.Context) error {
		return r.store.Put(ctx, key, bytes.NewReader(data), int64(len(data)), ctype)
	})
}

// retry calls fn until it succeeds or ctx ends, waiting between attempts
// from RetryMin, doubling up to RetryMax. Each attempt has AttemptTimeout.
// The first failure and then every tenth are logged.
func (r *Recorder) retry(ctx context.Context, log *slog.Logger, what string, fn func(ctx context.Context) error) error {
	delay := r.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, r.cfg.AttemptTimeout)
		err := fn(actx)
		cancel()
		if errors.Is(err, storage.ErrConflict) {
			return err // another node writes the recording now: no retry changes that
		}
		if err == nil {
			if attempt > 1 {
				log.Info("object store back", "what", what, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt%10 == 1 {
			log.Warn("object store: will retry", "what", what, "attempt", attempt, "delay", delay, "err", err)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		delay = min(2*delay, r.cfg.RetryMax)
	}
}

// Resume uploads what an earlier run left in the spool: recordings cut by
// a crash are finished from their journal first. Call it once at start.
func (r *Recorder) Resume(ctx context.Context) error {
	dirs, err := os.ReadDir(r.cfg.SpoolDir)
	if err != nil {
		return fmt.Errorf("record: spool: %w", err)
	}
	for _, d := range dirs {
		if !d.IsDir() || !validID(d.Name()) {
			continue
		}
		if err := r.resume(ctx, filepath.Join(r.cfg.SpoolDir, d.Name())); err != nil {
			return err
		}
	}
	if r.cfg.NodeID != "" {
		// After the spool's jobs are in hand: the sweep takes what they are not.
		r.cfgMu.Lock()
		if !r.closed && r.stopSweep == nil {
			sctx, stop := context.WithCancel(r.uploadCtx)
			swept := make(chan struct{})
			r.stopSweep, r.swept = stop, swept
			go func() { defer close(swept); r.sweep(sctx) }()
		}
		r.cfgMu.Unlock()
	}
	return nil
}

func (r *Recorder) resume(ctx context.Context, dir string) error {
	id := filepath.Base(dir)
	log := r.log.With("recording", id)
	h, entries, err := readJournal(dir)
	if err == nil && h.ID != id {
		err = fmt.Errorf("journal of %s in %s", h.ID, dir)
	}
	if err == nil && len(segments(entries)) == 0 {
		err = errors.New("no segment")
	}
	if err != nil {
		log.Warn("spool left out: nothing to recover", "dir", dir, "err", err)
		if rec, err := r.db.Recording(ctx, id); err == nil && rec.Status != storage.RecordingComplete {
			rec.Status = storage.RecordingFailed
			r.db.UpdateRecording(ctx, rec)
		}
		return os.RemoveAll(dir)
	}
	log = log.With("room", h.Room)
	if _, err := r.db.Recording(ctx, id); errors.Is(err, storage.ErrNotFound) {
		log.Info("spool of a deleted recording removed")
		return os.RemoveAll(dir)
	} else if err != nil {
		return err
	}
	if r.takenOver(ctx, h, dir, log) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, playlistName)); errors.Is(err, fs.ErrNotExist) {
		// Cut off while recording: it ends with its last journaled segment.
		body := renderVOD(segments(entries))
		row := rowFor(h, entries, len(body), storage.RecordingUploading, r.store.Location(prefix(h.Room, id)))
		if _, err := r.saveRow(ctx, row, true); errors.Is(err, storage.ErrConflict) {
			r.takenOver(ctx, h, dir, log)
			return nil
		} else if err != nil {
			return err
		}
		if _, err := writeFile(dir, playlistName, body); err != nil {
			return fmt.Errorf("record: finish %s: %w", id, err)
		}
		log.Info("interrupted recording finished from its journal", "duration", row.Duration)
	}
	log.Info("resuming upload", "spool", dir)
	r.startJob(id, h.Room, false, r.upload)
	return nil
}

// Delete removes a recording: its spool, its objects, then its row. A
// recording still being written cannot be deleted (ErrActive).
func (r *Recorder) Delete(ctx context.Context, room, id string) error {
	rec, err := r.db.Recording(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || err == nil && rec.RoomID != room {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	r.mu.Lock()
	j := r.jobs[id]
	r.mu.Unlock()
	if j != nil {
		if j.writing.Load() {
			return ErrActive
		}
		j.cancel()
		<-j.done
	}
	if err := os.RemoveAll(filepath.Join(r.cfg.SpoolDir, id)); err != nil {
		return err
	}
	if err := r.store.DeletePrefix(ctx, prefix(room, id)); err != nil {
		if rec.Status != storage.RecordingFailed {
			rec.Status = storage.RecordingFailed // its spool is gone: it cannot complete any more
			r.db.UpdateRecording(ctx, rec)
		}
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	if err := r.db.DeleteRecording(ctx, id); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	r.log.Info("recording deleted", "room", room, "recording", id)
	return nil
}
