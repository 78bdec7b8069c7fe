package program

import (
	"bytes"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/sfu"
)

// packet is one RTP packet of an input, copied off the publisher's goroutine.
type packet struct {
	in       *input
	layer    int
	keyframe bool
	ssrc     uint32
	seq      uint16
	ts       uint32
	marker   bool
	payload  []byte
	at       time.Time
}

// input is one track of the room as the program sees it. As an sfu.Sink it
// queues the track's packets for the program while the track is on air (or
// about to be), or while nothing is on air (for its preroll), and it always
// keeps the track's audio level (RFC 6464) for follow-the-speaker. Its atomics
// are written by the publisher's goroutine and read by the program; the plain
// fields after them belong to the program loop.
type input struct {
	track   *sfu.Track
	kind    Kind
	codec   string // CodecH264, CodecOpus, CodecAAC, or "" when it cannot be broadcast
	queue   chan<- *packet
	levelID uint8
	since   time.Time

	// live says whether WriteRTP queues packets for the program.
	live     atomic.Bool
	loudness atomic.Int32 // exponential average of 127-level, times 256
	heard    atomic.Int64 // unix nanoseconds of the last level
	dropped  atomic.Uint64

	// layers is the most simulcast layers seen (owned by the program loop).
	layers int
	// ref maps the input's RTP time to program time once any of its layers
	// went on air, so that every layer (every rendition) shares one timeline.
	ref timeline
	// preroll is, while nothing is on air, what each layer sent since its
	// latest keyframe (audio: in the last prerollAudio), so that the program
	// starts at the keyframe that came before it chose the input rather
	// than at the next one, an encoder's keyframe interval later.
	preroll [MaxRenditions]preroll
}

// Preroll bounds.
const (
	// prerollMax bounds the bytes kept of a layer: a 5 s keyframe interval
	// at 12 Mbit/s. A longer interval starts at the next keyframe.
	prerollMax = 8 << 20
	// prerollAudio is how far back audio is kept, longer than the
	// keyframe intervals that prerollMax lets through at usual rates.
	prerollAudio = 10 * time.Second
	// prerollFirst is how long after an input is made its keyframes do not
	// start its preroll over: the program chooses a new track only after
	// settle (later on a busy machine), and a broadcast that starts with
	// the track then starts at its first keyframe, not at one a short
	// keyframe interval later (the recording's first half second was lost).
	prerollFirst = 2 * time.Second
)

// preroll is the packets kept of one layer of an input.
type preroll struct {
	pks   []*packet
	bytes int
}

// keep adds a packet that came while nothing was on air to the input's
// preroll. Video starts over at each keyframe that brings its parameter sets
// (where the program can start), but for those of the input's first
// prerollFirst, and waits for one.
func (in *input) keep(pk *packet) {
	if pk.layer >= len(in.preroll) {
		return
	}
	b := &in.preroll[pk.layer]
	if in.kind == Video {
		switch {
		case pk.keyframe && carriesSPS(pk.payload) && (len(b.pks) == 0 || b.pks[0].ts != pk.ts && pk.at.Sub(in.since) >= prerollFirst):
			*b = preroll{}
		case len(b.pks) == 0:
			return
		}
	} else {
		old := 0
		for old < len(b.pks) && pk.at.Sub(b.pks[old].at) > prerollAudio {
			b.bytes -= len(b.pks[old].payload)
			old++
		}
		b.pks = b.pks[old:]
	}
	if b.bytes+len(pk.payload) > prerollMax {
		*b = preroll{}
		return
	}
	b.pks = append(b.pks, pk)
	b.bytes += len(pk.payload)
}

// kept returns the input's preroll since from, in arrival order, and empties it.
func (in *input) kept(from time.Time) []*packet {
	var out []*packet
	for i := range in.preroll {
		for _, pk := range in.preroll[i].pks {
			if !pk.at.Before(from) {
				out = append(out, pk)
			}
		}
		in.preroll[i] = preroll{}
	}
	slices.SortStableFunc(out, func(a, b *packet) int { return a.at.Compare(b.at) })
	return out
}

// dropPreroll forgets the preroll.
func (in *input) dropPreroll() { in.preroll = [MaxRenditions]preroll{} }

func newInput(t *sfu.Track, queue chan<- *packet, now time.Time) *input {
	in := &input{track: t, queue: queue, since: now, kind: Video, layers: max(1, t.LayerCount())}
	mime := strings.ToLower(t.Codec().MimeType)
	if t.Kind() == webrtc.RTPCodecTypeAudio {
		in.kind = Audio
		in.levelID = t.AudioLevelID()
	}
	switch {
	case in.kind == Video && mime == strings.ToLower(webrtc.MimeTypeH264):
		in.codec = CodecH264
	case in.kind == Audio && mime == strings.ToLower(webrtc.MimeTypeOpus):
		in.codec = CodecOpus
	case in.kind == Audio && mime == "audio/mpeg4-generic":
		in.codec = CodecAAC
	}
	return in
}

// id is the track's ID.
func (in *input) id() string { return in.track.ID() }

// WriteRTP implements sfu.Sink. It runs on the publisher's goroutine, never
// blocks, and keeps nothing of pkt: a full queue drops the packet and counts it.
func (in *input) WriteRTP(pkt *rtp.Packet, layer int, keyframe bool) {
	if in.levelID != 0 {
		if ext := pkt.Header.GetExtension(in.levelID); len(ext) > 0 {
			in.hear(ext[0])
		}
	}
	if !in.live.Load() {
		return
	}
	p := &packet{in: in, layer: layer, keyframe: keyframe, ssrc: pkt.SSRC, seq: pkt.SequenceNumber,
		ts: pkt.Timestamp, marker: pkt.Marker, payload: bytes.Clone(pkt.Payload), at: time.Now()}
	select {
	case in.queue <- p:
	default:
		in.dropped.Add(1)
	}
}

// hear folds one audio-level byte (RFC 6464 section 3: V bit, then the level
// in -dBov, 0 loudest, 127 silent) into a running average of about 0.6 s.
func (in *input) hear(b byte) {
	loud := int32(127-b&0x7f) << 8
	avg := in.loudness.Load()
	in.loudness.Store(avg + (loud-avg)/32)
	in.heard.Store(time.Now().UnixNano())
}

// level returns the average loudness (0 silent to 127) if a level was heard
// recently.
func (in *input) level(now time.Time) (int, bool) {
	if now.UnixNano()-in.heard.Load() > int64(time.Second/2) {
		return 0, false
	}
	return int(in.loudness.Load() >> 8), true
}

// timeline maps a stream's RTP timestamps to program time: it unwraps them and
// adds the offset fixed when the stream was anchored.
type timeline struct {
	anchored bool
	last     uint32
	unwrap   int64
	offset   int64
}

// anchor makes ts map to out from now on.
func (t *timeline) anchor(ts uint32, out int64) {
	t.anchored, t.last, t.unwrap = true, ts, int64(ts)
	t.offset = out - int64(ts)
}

// at maps ts, which may be a little older than the last one seen (reordering).
func (t *timeline) at(ts uint32) int64 {
	t.unwrap += int64(int32(ts - t.last))
	t.last = ts
	return t.unwrap + t.offset
}

// peek maps ts without moving the timeline.
func (t *timeline) peek(ts uint32) int64 {
	return t.unwrap + int64(int32(ts-t.last)) + t.offset
}

// Ticks converts a duration to a clock's ticks without overflow for long runs.
func Ticks(d time.Duration, clock int) int64 {
	s, rem := int64(d/time.Second), int64(d%time.Second)
	return s*int64(clock) + rem*int64(clock)/int64(time.Second)
}

// Duration converts ticks of a clock to a duration.
func Duration(t int64, clock int) time.Duration {
	s, rem := t/int64(clock), t%int64(clock)
	return time.Duration(s)*time.Second + time.Duration(rem*int64(time.Second)/int64(clock))
}
