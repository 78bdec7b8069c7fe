package record

import (
	"context"
	"sync"
	"sync/atomic"

	"lectern/hls"
	"lectern/program"
)

// roomRecorder is a room's program consumer while recording is on: each
// run of the program (from its first frames to Idle) is one recording. Its
// fields but sub are owned by the program goroutine, and by stop once the
// subscription is closed.
type roomRecorder struct {
	rec  *Recorder
	room string
	sub  atomic.Pointer[program.Subscription]
	cur  *recording
	// attached says cur's segmenter has the subscription (it asks for
	// keyframes through it).
	attached bool
}

// WriteFrame implements program.Consumer. The first frame (the program
// starts a consumer at a keyframe, or the audio of an audio-only room) may
// come before Subscribe has returned:
// the recording starts with it all the same, and its segmenter gets the
// subscription at the first frame after.
func (rr *roomRecorder) WriteFrame(f *program.Frame) {
	if rr.cur == nil {
		if f.Kind != program.Video && !f.AudioOnly {
			return
		}
		if rr.cur = rr.rec.newRecording(rr.room); rr.cur == nil {
			return // shutting down
		}
		rr.attached = false
	}
	if !rr.attached {
		if sub := rr.sub.Load(); sub != nil {
			rr.cur.seg.Attach(sub)
			rr.attached = true
		}
	}
	rr.cur.writeFrame(f)
}

// Idle implements program.Consumer: the recording ends.
func (rr *roomRecorder) Idle() {
	if rr.cur != nil {
		rr.cur.finish()
		rr.cur = nil
	}
}

// stop detaches from the program and ends the recording in progress.
func (rr *roomRecorder) stop() {
	if s := rr.sub.Load(); s != nil {
		s.Close()
	}
	rr.Idle() // the program no longer calls rr: safe from here
}

// recording is the program side of one recording: a segmenter whose
// segments are queued for the recording's writer goroutine. The program
// goroutine owns seg, top and kept; mu guards queue and ended.
type recording struct {
	seg *hls.Segmenter
	// top is the highest video rendition seen; kept is the rendition the
	// recording keeps (-1 until its first segment).
	top, kept int

	mu    sync.Mutex
	queue []hls.Segment
	ended bool
	wake  chan struct{}
}

// newRecording starts a recording of room and its job; nil once shutdown began.
func (r *Recorder) newRecording(room string) *recording {
	rc := &recording{kept: -1, wake: make(chan struct{}, 1)}
	id := newID()
	seg, err := hls.NewSegmenter(r.cfg.Segments, r.log.With("room", room, "recording", id), rc.onSegment)
	if err != nil {
		r.log.Error("recording not started", "room", room, "err", err)
		return nil
	}
	rc.seg = seg
	if r.startJob(id, room, true, func(ctx context.Context, j *job) { r.record(ctx, j, rc) }) == nil {
		return nil
	}
	return rc
}

// writeFrame hands f to the segmenter. Of the video renditions (simulcast
// layers) the recording keeps one: the highest that exists when its first
// segment completes.
func (rc *recording) writeFrame(f *program.Frame) {
	if f.Kind == program.Video {
		rc.top = max(rc.top, f.Rendition)
		want := rc.kept
		if want < 0 {
			want = rc.top
		}
		if f.Rendition != want {
			return
		}
	}
	rc.seg.WriteFrame(f)
}

// onSegment queues a complete segment for the writer (program goroutine).
func (rc *recording) onSegment(g hls.Segment) {
	if rc.kept < 0 {
		rc.kept = g.Rendition
	}
	if g.Rendition != rc.kept {
		return // a lower layer abandoned before the first segment
	}
	rc.mu.Lock()
	rc.queue = append(rc.queue, g)
	rc.mu.Unlock()
	rc.signal()
}

// finish completes the last segment and tells the writer that the recording ended.
func (rc *recording) finish() {
	rc.seg.Idle()
	rc.mu.Lock()
	rc.ended = true
	rc.mu.Unlock()
	rc.signal()
}

func (rc *recording) signal() {
	select {
	case rc.wake <- struct{}{}:
	default:
	}
}

// take returns the queued segments and whether the recording has ended.
func (rc *recording) take() ([]hls.Segment, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	q := rc.queue
	rc.queue = nil
	return q, rc.ended
}
