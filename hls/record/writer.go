package record

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"lectern/hls"
	"lectern/storage"
)

// record runs one recording: its writer here and its uploader beside it.
func (r *Recorder) record(ctx context.Context, j *job, rc *recording) {
	w := &writer{r: r, j: j}
	if r.cfg.NodeID != "" {
		// Before the first segment is written: a recording of the room
		// cut by its node's death goes on here, in a new part.
		r.continueOrphan(ctx, j, w)
	}
	w.log = r.log.With("room", j.room, "recording", j.id, "part", w.part)
	uploaded := make(chan struct{})
	go func() {
		defer close(uploaded)
		r.upload(ctx, j)
	}()
	for ended := false; !ended; {
		<-rc.wake
		var segs []hls.Segment
		segs, ended = rc.take()
		for _, g := range segs {
			w.add(g)
		}
	}
	w.finish()
	j.writing.Store(false)
	<-uploaded
}

// writer puts a recording's segments into its spool and keeps its metadata
// row up to date. It belongs to the recording's writer goroutine.
type writer struct {
	r   *Recorder
	j   *job
	log *slog.Logger

	journal *journal
	head    header
	entries []entry
	initID  int // the segmenter's number of the last init section written
	inits   int // this part's init sections and segments so far
	segs    int
	// part is the part written here; continued is the recording taken
	// over (its part before this one), prior the entries of its earlier
	// parts that reached the store. Set before the first segment.
	part      int
	continued *storage.Recording
	prior     []entry
	join      *join // moves this part's decode times (nil: as they come)
	saved     bool  // the row exists
	failed    bool
	warned    bool
}

func (w *writer) add(g hls.Segment) {
	if w.failed {
		return
	}
	if err := w.write(g); err != nil {
		w.failed = true
		w.log.Error("recording failed: the spool cannot be written", "dir", w.j.dir, "err", err)
		w.j.cancel() // stop uploading
		w.save(storage.RecordingFailed, 0)
	}
}

func (w *writer) write(g hls.Segment) error {
	if w.journal == nil {
		w.head = header{ID: w.j.id, Room: w.j.room, StartedAt: g.ProgramDateTime, Part: w.part, Node: w.r.cfg.NodeID}
		if w.continued != nil {
			w.head.StartedAt = w.continued.StartedAt
		}
		jn, err := createJournal(w.j.dir, w.head)
		if err != nil {
			return err
		}
		w.journal = jn
		for _, e := range w.prior {
			if err := jn.append(e); err != nil {
				return err
			}
		}
		w.entries = append(w.entries, w.prior...)
		w.log.Info("recording started", "spool", w.j.dir)
	}
	if g.InitID != w.initID {
		w.initID = g.InitID
		w.inits++
		if err := w.file(entry{File: initName(w.part, w.inits), Part: w.part, Init: w.inits}, g.Init); err != nil {
			return err
		}
	}
	if w.join != nil {
		parts, err := w.join.apply(g)
		if err != nil {
			// Its timestamps go back: players that follow them need a
			// discontinuity here (there is one at the part's start).
			w.log.Warn("recording: the continued part's timestamps are left as they come", "err", err)
			g.Discontinuity = true
			w.join = nil
		} else {
			g.Parts = parts
		}
	}
	w.segs++
	e := entry{File: segName(w.part, w.segs), Part: w.part, Init: w.inits, Discontinuity: g.Discontinuity,
		DurationUS: g.Duration.Microseconds(), PDT: g.ProgramDateTime}
	if err := w.file(e, g.Parts...); err != nil {
		return err
	}
	w.save(storage.RecordingActive, 0)
	return nil
}

// file writes one file into the spool and journals it.
func (w *writer) file(e entry, chunks ...[]byte) error {
	n, err := writeFile(w.j.dir, e.File, chunks...)
	if err != nil {
		return err
	}
	e.Bytes = n
	if err := w.journal.append(e); err != nil {
		return err
	}
	w.entries = append(w.entries, e)
	w.j.wake()
	return nil
}

// save writes the row as the recording stands; a database error is logged
// (once until it works again) and the next save tries again.
func (w *writer) save(status string, playlistBytes int) {
	if w.r.holdSaves != nil {
		w.r.holdSaves() // a test freezing this node
	}
	row := rowFor(w.head, w.entries, playlistBytes, status, w.r.store.Location(prefix(w.j.room, w.j.id)))
	ctx, cancel := context.WithTimeout(context.Background(), w.r.cfg.AttemptTimeout)
	defer cancel()
	var err error
	w.saved, err = w.r.saveRow(ctx, row, w.saved)
	switch {
	case err != nil && !w.warned:
		w.warned = true
		w.log.Warn("recording metadata not saved", "err", err)
	case err == nil:
		w.warned = false
	}
}

// finish ends the recording after its last segment: the playlist makes it
// ready for its last uploads; a recording with no segment leaves nothing.
func (w *writer) finish() {
	if w.journal == nil {
		w.j.cancel()
		return
	}
	if err := w.journal.close(); err != nil && !w.failed {
		w.log.Warn("recording journal", "err", err)
	}
	if w.failed {
		os.RemoveAll(w.j.dir)
		return
	}
	body := renderVOD(segments(w.entries))
	// The row says uploading before the playlist exists, so that the
	// uploader's complete always comes after it.
	w.save(storage.RecordingUploading, len(body))
	if _, err := writeFile(w.j.dir, playlistName, body); err != nil {
		w.log.Error("recording failed: the playlist cannot be written", "err", err)
		w.j.cancel()
		w.save(storage.RecordingFailed, 0)
		os.RemoveAll(w.j.dir)
		return
	}
	d, size := totals(w.entries)
	w.log.Info("recording finished", "duration", d, "bytes", size+int64(len(body)), "segments", len(segments(w.entries)))
	w.j.wake()
}

// rowFor is a recording's metadata from its journal.
func rowFor(h header, entries []entry, playlistBytes int, status, location string) storage.Recording {
	d, size := totals(entries)
	row := storage.Recording{ID: h.ID, RoomID: h.Room, Status: status, StartedAt: h.StartedAt,
		Duration: d, SizeBytes: size + int64(playlistBytes), Location: location, Node: h.Node, Part: h.Part}
	if status != storage.RecordingActive {
		row.EndedAt = h.StartedAt.Add(d)
		// A recording of several parts ends with its last segment.
		if segs := segments(entries); len(segs) > 0 && segs[len(segs)-1].Part > 0 {
			last := segs[len(segs)-1]
			row.EndedAt = last.PDT.Add(last.duration())
		}
	}
	return row
}

// saveRow updates the row, or creates it if it does not exist yet (its
// creation failed before). It reports whether the row exists now.
func (r *Recorder) saveRow(ctx context.Context, row storage.Recording, exists bool) (bool, error) {
	if exists {
		_, err := r.db.UpdateRecording(ctx, row)
		if !errors.Is(err, storage.ErrNotFound) {
			return err == nil, err
		}
	}
	_, err := r.db.CreateRecording(ctx, row)
	if errors.Is(err, storage.ErrConflict) {
		_, err = r.db.UpdateRecording(ctx, row)
	}
	return err == nil, err
}
