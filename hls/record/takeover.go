package record

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"lectern/storage"
	"lectern/storage/objstore"
)

// A recording outlives its node (docs/hls.md, "Recordings across a node
// loss"). Its uploader puts, after each media file it uploads and before
// it removes the file from the spool, its part's index (indexName) in the
// store, so that the store alone says what reached it, and what it lacks
// was still in the spool. When the node dies (its heartbeat stops), the
// recording's row still says "recording" and names it. Then:
//
//   - if the room's broadcast resumes on a node within AdoptWindow of the
//     recording's last media, that node continues the recording in a new
//     part (continueOrphan): its files are named pN-..., its journal starts
//     with the earlier parts' entries from the store, its segments' decode
//     times go on from where the stored ones end (join.go), and its
//     playlist joins the parts with EXT-X-DISCONTINUITY;
//   - otherwise, once AdoptWindow has passed, any node finishes it from the
//     store's index (sweep, finishOrphan).
//
// Either takes the recording over first (storage.TakeOverRecording, a
// compare-and-set on its node and part), so that one node does it; the row
// refuses the old node's writes from then on, and that node, back with its
// spool, drops it (resume).

// errTakenOver stops the uploader of a recording another node took over.
var errTakenOver = errors.New("record: recording taken over by another node")

// lastMedia estimates when a recording's last stored segment ended.
func lastMedia(rec storage.Recording) time.Time { return rec.StartedAt.Add(rec.Duration) }

// continueOrphan makes j, before its first segment, continue the room's
// recording cut by its node's death, if there is one to continue: j takes
// its ID and w writes its next part.
func (r *Recorder) continueOrphan(ctx context.Context, j *job, w *writer) {
	log := r.log.With("room", j.room)
	orphans, err := r.db.OrphanRecordings(ctx, r.cfg.NodeID, r.cfg.DeadAfter)
	if err != nil {
		log.Warn("recording: cannot look for a recording to continue; a new one starts", "err", err)
		return
	}
	var rec *storage.Recording
	for i := range orphans {
		o := &orphans[i]
		if o.RoomID == j.room && o.Status == storage.RecordingActive && time.Since(lastMedia(*o)) < r.cfg.AdoptWindow {
			rec = o // the newest
		}
	}
	if rec == nil {
		return
	}
	// Reserve its ID here (a sweep may be finishing it), then take it over.
	oldID, oldDir := j.id, j.dir
	dir := filepath.Join(r.cfg.SpoolDir, rec.ID)
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) || !r.rekey(j, oldID, rec.ID, dir) {
		return
	}
	got, err := r.db.TakeOverRecording(ctx, *rec, r.cfg.NodeID)
	if err == nil {
		var h header
		h, w.prior, err = r.readIndex(ctx, rec.RoomID, rec.ID, rec.Part)
		if err == nil && h.ID != "" && !h.StartedAt.IsZero() {
			got.StartedAt = h.StartedAt
		}
	}
	if err != nil {
		log.Warn("recording: not continued; a new one starts", "recording", rec.ID, "err", err)
		r.rekey(j, rec.ID, oldID, oldDir)
		return
	}
	w.part, w.continued, w.saved = got.Part, &got, true
	if end, ok, err := r.priorEnd(ctx, rec.RoomID, rec.ID, w.prior); err != nil {
		log.Warn("recording: the continued part's timestamps start again (only EXT-X-DISCONTINUITY joins it)", "err", err)
	} else if ok {
		w.join = &join{end: end}
	}
	d, _ := totals(w.prior)
	log.Info("recording continued after its node died", "recording", got.ID, "dead_node", rec.Node, "part", got.Part,
		"stored", d, "gap", time.Since(lastMedia(*rec)).Round(time.Millisecond))
}

// rekey renames job j from id from to to; false if to is taken.
func (r *Recorder) rekey(j *job, from, to, dir string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.jobs[to] != nil {
		return false
	}
	delete(r.jobs, from)
	j.id, j.dir = to, dir
	r.jobs[to] = j
	return true
}

// putIndex uploads the index of j's part: its journal's header and the
// entries whose files are in the store (stored, just uploaded, or gone
// from the spool), up to the first that is not.
func (r *Recorder) putIndex(ctx context.Context, j *job, stored string, log *slog.Logger) error {
	h, entries, err := readJournal(j.dir)
	if err != nil {
		return err
	}
	if r.takenOver(ctx, h, j.dir, log) {
		return errTakenOver // this node was judged dead: it stops here
	}
	var b bytes.Buffer
	jn := &journal{w: &b}
	jn.append(h)
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(j.dir, e.File)); e.File != stored && !errors.Is(err, fs.ErrNotExist) {
			break
		}
		jn.append(e)
	}
	key := prefix(j.room, j.id) + indexName(h.Part)
	data := b.Bytes()
	return r.retry(ctx, log, key, func(ctx context.Context) error {
		return r.store.Put(ctx, key, bytes.NewReader(data), int64(len(data)), "application/jsonl")
	})
}

// dropIndexes deletes a complete recording's part indexes from the store:
// its playlist says it all. One left behind (the store failed) is harmless.
func (r *Recorder) dropIndexes(ctx context.Context, room, id string, log *slog.Logger) {
	if err := r.store.DeletePrefix(ctx, prefix(room, id)+indexPrefix); err != nil {
		log.Warn("recording: part indexes left in the store", "err", err)
	}
}

// readIndex reads the newest index in the store of a recording's parts up
// to part: what reached the store of every part up to there. None is no
// error (nothing reached the store).
func (r *Recorder) readIndex(ctx context.Context, room, id string, part int) (header, []entry, error) {
	for p := part; p >= 0; p-- {
		obj, err := r.store.Open(ctx, prefix(room, id)+indexName(p))
		if errors.Is(err, objstore.ErrNotFound) {
			continue
		}
		if err != nil {
			return header{}, nil, err
		}
		h, entries, err := parseJournal(obj)
		obj.Close()
		if err != nil || h.ID != id || h.Part != p {
			r.log.Warn("recording: index in the store left out", "recording", id, "part", p, "err", err)
			continue
		}
		return h, entries, nil
	}
	return header{}, nil, nil
}

// sweep finishes, until ctx ends, the recordings whose node died and that
// no node continued within AdoptWindow, and this node's own that it has no
// job or spool for.
func (r *Recorder) sweep(ctx context.Context) {
	every := max(r.cfg.DeadAfter/2, 100*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		orphans, err := r.db.OrphanRecordings(ctx, r.cfg.NodeID, r.cfg.DeadAfter)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("recording sweep", "err", err)
			}
			continue
		}
		for _, rec := range orphans {
			if rec.Status == storage.RecordingActive && time.Since(lastMedia(rec)) < r.cfg.AdoptWindow {
				continue // its broadcast may resume: the node where it does continues it
			}
			if rec.Node == r.cfg.NodeID {
				// This node's own: in hand while it has a job or a spool
				// for it; else stranded (it took the recording over and
				// no segment followed, or a finish here was cut short).
				if _, err := os.Stat(filepath.Join(r.cfg.SpoolDir, rec.ID)); !errors.Is(err, fs.ErrNotExist) {
					continue
				}
			}
			r.startJob(rec.ID, rec.RoomID, false, func(ctx context.Context, j *job) { r.finishOrphan(ctx, rec) })
		}
	}
}

// finishOrphan takes over a recording whose node died and finishes it from
// what reached the store: its playlist is the stored segments'.
func (r *Recorder) finishOrphan(ctx context.Context, rec storage.Recording) {
	log := r.log.With("room", rec.RoomID, "recording", rec.ID)
	got, err := r.db.TakeOverRecording(ctx, rec, r.cfg.NodeID)
	if err != nil {
		if !errors.Is(err, storage.ErrConflict) && !errors.Is(err, storage.ErrNotFound) {
			log.Warn("recording: cannot take over", "err", err)
		}
		return // another node has it, or it is gone
	}
	var h header
	var entries []entry
	if err := r.retry(ctx, log, "index", func(ctx context.Context) (err error) {
		h, entries, err = r.readIndex(ctx, rec.RoomID, rec.ID, rec.Part)
		return err
	}); err != nil {
		return // shutdown
	}
	segs := segments(entries)
	if len(segs) == 0 {
		got.Status = storage.RecordingFailed
		if _, err := r.db.UpdateRecording(ctx, got); err != nil {
			log.Warn("recording: not marked failed", "err", err)
		}
		log.Warn("recording failed: its node died before any segment reached the store", "dead_node", rec.Node)
		return
	}
	body := renderVOD(segs)
	key := prefix(rec.RoomID, rec.ID) + playlistName
	if err := r.retry(ctx, log, key, func(ctx context.Context) error {
		return r.store.Put(ctx, key, bytes.NewReader(body), int64(len(body)), "application/vnd.apple.mpegurl")
	}); err != nil {
		return
	}
	h.Node, h.Part, h.StartedAt = r.cfg.NodeID, got.Part, got.StartedAt
	row := rowFor(h, entries, len(body), storage.RecordingComplete, r.store.Location(prefix(rec.RoomID, rec.ID)))
	if err := r.retry(ctx, log, "metadata", func(ctx context.Context) error {
		_, err := r.db.UpdateRecording(ctx, row)
		return err
	}); err != nil {
		return
	}
	r.dropIndexes(ctx, rec.RoomID, rec.ID, log)
	log.Info("recording finished after its node died, from the store", "dead_node", rec.Node, "duration", row.Duration,
		"parts", got.Part, "lost_since", time.Since(lastMedia(rec)).Round(time.Millisecond))
}
