package hls

import (
	"context"
	"math"
	"sync/atomic"
	"time"

	"lectern/program"
)

// rendition is one media playlist of a stream: one video rendition with the
// program's audio, cut into parts and segments (RFC 8216bis section 4.4.4.9).
// The writer fields are owned by the program goroutine. Readers see snap only:
// an immutable snapshot that is replaced whenever a part is added.
type rendition struct {
	st    *stream
	index int

	video, audio *program.Codec // the codings of the current init segment
	init         *initSegment
	inits        int
	segs         []*segBuild // complete segments: segs[first:] are listed
	first        int
	open         *segBuild
	cur          partBuild
	nextMSN      uint64
	partSeq      uint64
	discSeq      uint64
	keyAsked     bool
	audioChanged bool
	est          int64 // estimated video frame duration, 90 kHz ticks
	audioEnd     int64 // where the audio written so far ends, audio ticks
	lastAudio    time.Time
	lastReceived time.Time

	snap atomic.Pointer[snapshot]
}

func newRendition(st *stream, index int) *rendition {
	// The discontinuity sequence starts at 0 in every stream, though a
	// player reloading through a failover meets the new stream after a
	// discontinuity: starting it above every earlier stream's (at msnBase,
	// as the media sequence does) kept hls.js and Shaka in Chromium from
	// starting at all (TestFailoverHLSPlayers).
	// Init segments are numbered from one above the stream's first media
	// sequence number (never 0, which the recorder takes for none), so that a new stream's init segment has a URL of its own
	// (a player or CDN that cached the old stream's under a URL it keeps
	// must not reuse it for the new stream).
	r := &rendition{st: st, index: index, est: 90000 / 30, lastAudio: time.Now(),
		nextMSN: st.msnBase, partSeq: st.partBase, inits: int(st.msnBase)}
	r.snap.Store(&snapshot{next: make(chan struct{}), base: st.msnBase, partBase: st.partBase, nextPart: st.partBase})
	return r
}

// end closes the playlist with what was written.
func (r *rendition) end() {
	r.closePart(-1)
	r.completeSegment()
	r.publishEnded(true)
}

// publish replaces the readers' snapshot and wakes the requests waiting for it.
func (r *rendition) publish() { r.publishEnded(false) }

func (r *rendition) publishEnded(ended bool) {
	s := &snapshot{first: r.first, discSeq: r.discSeq, ended: ended, next: make(chan struct{}), base: r.st.msnBase, partBase: r.st.partBase,
		video: r.video, audio: r.audio, name: r.name(), nextPart: r.partSeq, reports: r.reports()}
	s.segs = make([]segView, 0, len(r.segs)+1)
	for _, b := range r.segs {
		s.segs = append(s.segs, view(b))
	}
	if r.open != nil && !ended {
		s.segs = append(s.segs, view(r.open))
		s.open = true
	}
	s.measure(r.st.cfg.SegmentDuration)
	s.body = renderMedia(s, r.st.cfg)
	s.gz = gzipped(s.body)
	old := r.snap.Swap(s)
	close(old.next)
	if !r.lastReceived.IsZero() {
		r.st.m.stats.partDelay(time.Since(r.lastReceived))
		r.lastReceived = time.Time{}
	}
}

func (r *rendition) name() string { return "v" + string(rune('0'+r.index)) }

// report is an EXT-X-RENDITION-REPORT (RFC 8216bis section 4.4.5.4): where
// another rendition of the stream stands, so that a player switching to it
// can make its first request a blocking one for the part that comes next.
type report struct {
	uri      string
	lastMSN  uint64
	lastPart int
}

// reports are the other renditions' last parts, as their latest snapshots
// have them. Every rendition is written by the program goroutine, so a
// report is at most a part behind: a blocking request built from it is
// answered at once, never held for a part that is not coming.
func (r *rendition) reports() []report {
	rs := r.st.renditionList()
	if len(rs) < 2 {
		return nil
	}
	out := make([]report, 0, len(rs)-1)
	for _, o := range rs {
		if o == r {
			continue
		}
		if msn, p, ok := o.snap.Load().lastPart(); ok {
			out = append(out, report{uri: o.name() + ".m3u8", lastMSN: msn, lastPart: p})
		}
	}
	return out
}

// segView is a segment as one snapshot sees it.
type segView struct {
	msn           uint64
	parts         []*part
	complete      bool
	duration      time.Duration
	bytes, frames int
	init          *initSegment
	discontinuity bool
	pdt           time.Time
}

func view(b *segBuild) segView {
	return segView{msn: b.msn, parts: b.parts[:len(b.parts):len(b.parts)], complete: b.complete, duration: b.duration,
		bytes: b.bytes, frames: b.frames, init: b.init, discontinuity: b.discontinuity, pdt: b.pdt}
}

// snapshot is a rendition's state at one moment, with its playlist rendered
// once (and gzipped once) for every reader. next is closed when it is replaced.
type snapshot struct {
	// base is the stream's first media sequence number (msnBase), partBase
	// its first part number.
	base, partBase uint64
	name           string
	segs           []segView // retained, then listed (from first), then the open one
	first          int
	open           bool
	ended          bool
	discSeq        uint64
	body           []byte
	gz             []byte
	next           chan struct{}
	// nextPart is the number of the part to come: the preload hint.
	nextPart uint64
	reports  []report

	video, audio       *program.Codec
	bandwidth, average int
	frameRate          float64
}

// measure computes BANDWIDTH (the peak segment bit rate) and AVERAGE-BANDWIDTH
// (RFC 8216bis section 4.4.6.2) and the frame rate from the listed segments.
// The peak is taken over spans of at least span (the segment duration): a
// segment cut short at once by a change of coding (the audio arriving after
// the first keyframe, on a loaded machine) is a keyframe and little else,
// and alone it read as several times the rendition's rate, which ordered a
// 180p variant above the 360p one (TestSimulcastRenditions, once in CI).
func (s *snapshot) measure(span time.Duration) {
	var bytes, frames int
	var total time.Duration
	segs := s.segs[min(s.first, len(s.segs)):]
	for i, g := range segs {
		if !g.complete || g.duration <= 0 {
			continue
		}
		// From g on, and back from it when the listed ones end first.
		var b int
		var d time.Duration
		add := func(h segView) bool {
			if h.complete && h.duration > 0 {
				b, d = b+h.bytes, d+h.duration
			}
			return d >= span
		}
		done := false
		for k := i; k < len(segs) && !done; k++ {
			done = add(segs[k])
		}
		for k := i - 1; k >= 0 && !done; k-- {
			done = add(segs[k])
		}
		if bw := int(float64(b*8) / d.Seconds()); bw > s.bandwidth {
			s.bandwidth = bw
		}
		bytes, frames, total = bytes+g.bytes, frames+g.frames, total+g.duration
	}
	if total > 0 {
		s.average = int(float64(bytes*8) / total.Seconds())
		s.frameRate = math.Round(float64(frames)/total.Seconds()*1000) / 1000
	}
}

// seg returns the segment msn, or nil.
func (s *snapshot) seg(msn uint64) *segView {
	for i := range s.segs {
		if s.segs[i].msn == msn {
			return &s.segs[i]
		}
	}
	return nil
}

// ready reports whether the playlist satisfies a blocking request for
// segment msn (part < 0) or part (msn, part), per RFC 8216bis section
// 6.2.5.2; bad means the request asks too far ahead.
func (s *snapshot) ready(msn uint64, part int, limit int) (ok, bad bool) {
	if s.ended {
		return true, false // section 6.2.5.2: directives are ignored after EXT-X-ENDLIST
	}
	if len(s.segs) == 0 {
		return false, msn > s.base+2 || part > limit
	}
	if last := s.segs[len(s.segs)-1].msn; msn > last+2 {
		return false, true
	}
	if part < 0 {
		for i := len(s.segs) - 1; i >= 0; i-- {
			if s.segs[i].complete {
				return s.segs[i].msn >= msn, false
			}
		}
		return false, false
	}
	if g := s.seg(msn); g != nil && g.complete && part >= len(g.parts) {
		msn, part = msn+1, 0 // a part past the last is part 0 of the next segment
	}
	nm, np := s.newest()
	switch {
	case nm == msn && part > np+limit, nm < msn && part > limit:
		return false, true
	}
	return nm > msn || nm == msn && np >= part, false
}

// lastPart is the position of the last part in the playlist, if any.
func (s *snapshot) lastPart() (msn uint64, part int, ok bool) {
	for i := len(s.segs) - 1; i >= 0; i-- {
		if n := len(s.segs[i].parts); n > 0 {
			return s.segs[i].msn, n - 1, true
		}
	}
	return 0, 0, false
}

// newest is the position of the last part in the playlist; np is -1 when
// the open segment has none yet.
func (s *snapshot) newest() (msn uint64, part int) {
	last := s.segs[len(s.segs)-1]
	return last.msn, len(last.parts) - 1
}

// lookupPart finds part n. wait is true when it is not there yet but is
// about to be: it is the hinted next part (RFC 8216bis section 6.2.6), which
// exists as soon as it is written, whether it ends up in the open segment or
// starts a new one.
func (s *snapshot) lookupPart(n uint64) (found *part, wait bool) {
	for i := len(s.segs) - 1; i >= 0; i-- {
		ps := s.segs[i].parts
		if len(ps) == 0 || ps[0].seq > n {
			continue
		}
		if k := n - ps[0].seq; k < uint64(len(ps)) {
			return ps[k], false
		}
		break // parts are numbered in order: n is past every one there is
	}
	return nil, s.open && !s.ended && n == s.nextPart
}

// newestData returns the data of the newest part there is (part) or of the
// newest complete segment, nil if there is none yet.
func (s *snapshot) newestData(part bool) [][]byte {
	for i := len(s.segs) - 1; i >= 0; i-- {
		g := s.segs[i]
		switch {
		case part && len(g.parts) > 0:
			return [][]byte{g.parts[len(g.parts)-1].data}
		case !part && g.complete:
			data := make([][]byte, len(g.parts))
			for k, p := range g.parts {
				data[k] = p.data
			}
			return data
		}
	}
	return nil
}

// initNumbered returns init segment n's bytes, nil if the snapshot has none
// numbered n.
func (s *snapshot) initNumbered(n int) []byte {
	for _, g := range s.segs {
		if g.init != nil && g.init.n == n {
			return g.init.data
		}
	}
	return nil
}

// newestInit returns the newest segment's init segment, nil before the
// first.
func (s *snapshot) newestInit() []byte {
	for i := len(s.segs) - 1; i >= 0; i-- {
		if g := s.segs[i]; g.init != nil {
			return g.init.data
		}
	}
	return nil
}

// lastMSN is the media sequence number of the last segment, the open one
// included (base before the first).
func (s *snapshot) lastMSN() uint64 {
	if n := len(s.segs); n > 0 {
		return s.segs[n-1].msn
	}
	return s.base
}

// pastNext reports whether a blocking reload for (msn, part) asks past the
// part to come (the preload hint, or part 0 of the next segment), or, with
// no part, past the segment being written.
func (s *snapshot) pastNext(msn uint64, part int) bool {
	if len(s.segs) == 0 {
		return msn > s.base || part > 0
	}
	nm, np := s.newest()
	switch {
	case part < 0:
		return msn > nm
	case msn == nm:
		return part > np+1
	case msn == nm+1:
		return part > 0
	}
	return msn > nm+1
}

// foreign reports whether res names a part or segment that is not of this
// stream: numbered below its first (base, partBase) or past what it has and
// is about to have (the hinted part, the open segment). A stale URL asks for
// such numbers: the dead stream's, which the live stream's may be above or,
// its segments being shorter than the segment duration at times, below.
func (s *snapshot) foreign(res resource) bool {
	switch res.kind {
	case resPart:
		return res.n < s.partBase || res.n > s.nextPart
	case resSegment:
		return res.n < s.base || res.n > s.lastMSN()
	}
	return false
}

// lookupSegment finds the complete segment msn; wait is true while it is
// the open one.
func (s *snapshot) lookupSegment(msn uint64) (found *segView, wait bool) {
	g := s.seg(msn)
	if g == nil {
		return nil, false
	}
	if g.complete {
		return g, false
	}
	return nil, !s.ended
}

// wait returns the first snapshot for which check says done, blocking on
// snapshot replacement (one channel per snapshot, shared by all waiters).
func (r *rendition) wait(ctx context.Context, timeout time.Duration, check func(*snapshot) (done bool, err error)) (*snapshot, error) {
	var timer *time.Timer
	for {
		s := r.snap.Load()
		done, err := check(s)
		if done || err != nil {
			if timer != nil {
				timer.Stop()
			}
			return s, err
		}
		if timer == nil {
			timer = time.NewTimer(timeout)
		}
		select {
		case <-s.next:
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
			return nil, ErrUnavailable
		}
	}
}
