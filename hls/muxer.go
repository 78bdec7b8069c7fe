package hls

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"lectern/program"
)

// streamGrace is how long an ended stream stays downloadable for players that
// are still playing its last segments (RFC 8216bis section 6.2.1).
const streamGrace = time.Minute

// Muxer is a room's LL-HLS output. As a program consumer it cuts frames into
// renditions of fMP4 parts and segments kept in memory; readers find them
// through Live and Stream. Each run of the program between idle periods is a
// stream with its own ID in the URIs, so that caches never mix two broadcasts.
// The stream being written belongs to the program goroutine; the stream map is
// guarded by mu; readers see renditions through atomics only.
type Muxer struct {
	cfg   Config
	log   *slog.Logger
	stats *stats
	sub   atomic.Pointer[program.Subscription]
	w     *stream // written by the program goroutine

	live    atomic.Pointer[stream]
	mu      sync.Mutex
	streams map[string]*stream
	// changed is closed (and replaced) when the live stream changes.
	changed chan struct{}
	// onSegment, when set, receives every complete segment (a Segmenter).
	onSegment func(Segment)
}

func newMuxer(cfg Config, log *slog.Logger, st *stats) *Muxer {
	return &Muxer{cfg: cfg, log: log, stats: st, streams: map[string]*stream{}, changed: make(chan struct{})}
}

// setLive makes st (or nil) the live stream and wakes WaitLive.
func (m *Muxer) setLive(st *stream) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(time.Now())
	if st != nil {
		m.streams[st.id] = st
	}
	m.live.Store(st)
	close(m.changed)
	m.changed = make(chan struct{})
}

// liveOrChange returns the live stream and a channel closed when it changes.
func (m *Muxer) liveOrChange() (*stream, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.live.Load(), m.changed
}

// WriteFrame implements Consumer.
func (m *Muxer) WriteFrame(f *program.Frame) {
	if m.w == nil {
		if f.Kind == program.Audio && f.AudioOnly {
			m.w = newStream(m)
			m.w.audioOnly = true
			m.w.write(f)
			m.setLive(m.w)
			m.log.Info("hls stream started", "stream", m.w.id, "audio_only", true)
			return
		}
		if f.Kind != program.Video || !f.Keyframe {
			if s := m.sub.Load(); s != nil && f.Kind == program.Video {
				s.RequestKeyframe(f.Rendition)
			}
			return
		}
		m.w = newStream(m)
		m.w.write(f)
		m.setLive(m.w)
		m.log.Info("hls stream started", "stream", m.w.id)
		return
	}
	m.w.write(f)
}

// Idle implements Consumer: the stream ends (its playlists get EXT-X-ENDLIST).
func (m *Muxer) Idle() {
	if m.w == nil {
		return
	}
	// Offline first, so that a reader woken by the ended playlist already
	// sees no live stream.
	m.setLive(nil)
	m.w.end()
	m.log.Info("hls stream ended", "stream", m.w.id)
	m.w = nil
}

// current returns the stream being broadcast, or nil.
func (m *Muxer) current() *stream { return m.live.Load() }

// stream returns a live or recently ended stream by ID.
func (m *Muxer) stream(id string) *stream {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.streams[id]
}

// expire forgets streams that ended more than streamGrace ago. Called with mu held.
func (m *Muxer) expire(now time.Time) {
	for id, s := range m.streams {
		if e := s.endedAt.Load(); e != 0 && now.UnixNano()-e > int64(streamGrace) {
			delete(m.streams, id)
		}
	}
}

// stream is one continuous broadcast: its renditions share the program's
// timeline and a mapping of it to wall-clock time (EXT-X-PROGRAM-DATE-TIME).
type stream struct {
	m       *Muxer
	cfg     Config
	log     *slog.Logger
	id      string
	started time.Time
	// renditions only grows; its slice is replaced, never modified.
	renditions atomic.Pointer[[]*rendition]
	endedAt    atomic.Int64

	// audioOnly streams carry the program's audio alone, in one rendition
	// whose parts and segments are cut on time (every audio frame is
	// independent); their timeline is the audio's clock.
	audioOnly bool

	// Owned by the program goroutine.
	audio   *program.Codec
	based   bool
	pdtBase time.Time
	dtsBase int64
	clock   int
	// msnBase is the media sequence number of the stream's first segment
	// (msnBase): a stream started later, on this node or on another after a
	// failover, numbers its segments above every segment of an earlier one.
	msnBase uint64
	// partBase is the number of the stream's first part, above every part
	// of an earlier stream in the same way (partBase): a player's preload
	// hint of the dead node's stream is never a part of this one.
	partBase uint64
	// shift moves the frames' decode times onto the wall clock
	// (onWallClock), set by the first frame.
	shift   time.Duration
	shifted bool
}

func newStream(m *Muxer) *stream {
	b := make([]byte, 6)
	rand.Read(b)
	st := &stream{m: m, cfg: m.cfg, log: m.log, id: hex.EncodeToString(b), started: time.Now()}
	st.msnBase = msnBase(st.started, m.cfg.SegmentDuration)
	st.partBase = partBase(st.started, m.cfg.PartDuration)
	st.renditions.Store(&[]*rendition{})
	return st
}

// renditionList returns the stream's renditions, lowest layer first.
func (st *stream) renditionList() []*rendition { return *st.renditions.Load() }

func (st *stream) write(f *program.Frame) {
	f = st.onWallClock(f)
	if st.audioOnly {
		st.writeAudioOnly(f)
		return
	}
	if f.Kind == program.Audio {
		st.audio = f.Codec
		for _, r := range st.renditionList() {
			r.writeAudio(f)
		}
		return
	}
	if !st.based {
		st.based, st.pdtBase, st.dtsBase, st.clock = true, f.Received, f.DTS, 90000
	}
	if f.Audio != nil {
		st.audio = f.Audio
	}
	rs := st.renditionList()
	if f.Rendition >= len(rs) {
		if f.Rendition >= program.MaxRenditions {
			return
		}
		next := append([]*rendition(nil), rs...)
		for len(next) <= f.Rendition {
			next = append(next, newRendition(st, len(next)))
		}
		st.renditions.Store(&next)
		rs = next
	}
	rs[f.Rendition].writeVideo(f)
}

// end closes every rendition's playlist.
func (st *stream) end() {
	for _, r := range st.renditionList() {
		r.end()
	}
	st.endedAt.Store(time.Now().UnixNano())
}

// ended reports whether the stream has ended.
func (st *stream) ended() bool { return st.endedAt.Load() != 0 }

// audioCodec is the audio the init segments declare.
func (st *stream) audioCodec() *program.Codec {
	if st.audio != nil {
		return st.audio
	}
	return defaultAudio
}

// writeAudioOnly adds a frame to an audio-only stream's one rendition; a
// video frame (the room's policy changed, and the program goes idle next)
// is left out.
func (st *stream) writeAudioOnly(f *program.Frame) {
	if f.Kind != program.Audio {
		return
	}
	if !st.based {
		st.based, st.pdtBase, st.dtsBase, st.clock = true, f.Received, f.DTS, f.Codec.ClockRate
	}
	st.audio = f.Codec
	rs := st.renditionList()
	if len(rs) == 0 {
		rs = []*rendition{newRendition(st, 0)}
		st.renditions.Store(&rs)
	}
	rs[0].writeAudioOnly(f)
}

// pdt maps a DTS of the stream's timeline (video, or an audio-only stream's
// audio) to wall-clock time.
func (st *stream) pdt(dts int64) time.Time {
	return st.pdtBase.Add(program.Duration(dts-st.dtsBase, st.clock))
}

func (st *stream) requestKeyframe(i int) {
	if s := st.m.sub.Load(); s != nil {
		s.RequestKeyframe(i)
	}
}

// msnBase is the first media sequence number of a stream started at start:
// the number of segment durations since the Unix epoch. A segment lasts about
// SegmentDuration (it is cut at the first keyframe from a part before it, and
// at once at a change of source), so a stream started earlier, anywhere in
// the cluster, has seldom reached it; a stale URL's numbers are answered
// whichever side of it they are (Service.Serve, snapshot.foreign). A player
// that keeps reloading its media playlist URL through a failover (which
// serves the room's new stream, Service.Serve) moves on to the new stream's
// segments instead of waiting for sequence numbers it has already played
// (RFC 8216bis section 6.3.5 lets a client skip forward, not back).
func msnBase(start time.Time, segment time.Duration) uint64 {
	ms := segment.Milliseconds()
	if ms <= 0 {
		return 0
	}
	return uint64(start.UnixMilli() / ms)
}

// partBase is the first part number of a stream started at start: the number
// of half part durations since the Unix epoch. A stream makes at most one
// part per part duration plus one per segment (segments last at least a part
// duration), so, as with msnBase, no stream started earlier has reached it.
// Part numbers name the parts' URIs (v0-p{n}.m4s), which a player reloading
// through a failover keeps asking for: those of the dead stream must be gone
// (404 at once), not parts that the new stream will come to have.
func partBase(start time.Time, part time.Duration) uint64 {
	half := part.Milliseconds() / 2
	if half <= 0 {
		return 0
	}
	return uint64(start.UnixMilli() / half)
}
