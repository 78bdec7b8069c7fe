package hls

import (
	"log/slog"
	"time"

	"lectern/program"
)

// Segment is a complete fMP4 media segment of one rendition, cut exactly as
// the LL-HLS muxer cuts the live stream, for consumers that keep the
// broadcast (the recorder). Its byte slices are never modified.
type Segment struct {
	// Rendition is the video rendition (0 is the lowest simulcast layer).
	Rendition int
	// Sequence is the segment's Media Sequence Number in its stream.
	Sequence uint64
	// Init is the initialization segment the segment needs, numbered by
	// InitID: a new number means a new coding (a new EXT-X-MAP).
	Init   []byte
	InitID int
	// Discontinuity marks a change of source or coding before the segment
	// (EXT-X-DISCONTINUITY).
	Discontinuity bool
	Duration      time.Duration
	// ProgramDateTime is the wall-clock time of its first sample.
	ProgramDateTime time.Time
	// Parts are the segment's fMP4 fragments (moof and mdat) in order: the
	// segment is their concatenation.
	Parts [][]byte
}

// Size is the segment's length in bytes.
func (g Segment) Size() int {
	n := 0
	for _, p := range g.Parts {
		n += len(p)
	}
	return n
}

// segment describes a complete segment of r.
func (r *rendition) segment(s *segBuild) Segment {
	g := Segment{Rendition: r.index, Sequence: s.msn, InitID: s.init.n, Init: s.init.data,
		Discontinuity: s.discontinuity, Duration: s.duration, ProgramDateTime: s.pdt}
	g.Parts = make([][]byte, len(s.parts))
	for i, p := range s.parts {
		g.Parts[i] = p.data
	}
	return g
}

// Segmenter is a program Consumer that cuts the program into segments as
// the LL-HLS muxer does and hands each complete one to a function, on the
// program's goroutine (which it must not block). Idle completes the last
// segment. Its state belongs to the program goroutine, like a Muxer's.
type Segmenter struct {
	m *Muxer
}

// NewSegmenter returns a segmenter calling onSegment; cfg sets the part and
// segment lengths (parts are fragments inside the segments).
func NewSegmenter(cfg Config, log *slog.Logger, onSegment func(Segment)) (*Segmenter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := newMuxer(cfg, log, &stats{})
	m.onSegment = onSegment
	return &Segmenter{m: m}, nil
}

// Attach gives the segmenter its subscription, through which it asks for
// the keyframes it needs to start and cut segments.
func (s *Segmenter) Attach(sub *program.Subscription) { s.m.sub.Store(sub) }

// WriteFrame implements Consumer.
func (s *Segmenter) WriteFrame(f *program.Frame) { s.m.WriteFrame(f) }

// Idle implements Consumer: the open segment is completed and handed over.
func (s *Segmenter) Idle() { s.m.Idle() }
