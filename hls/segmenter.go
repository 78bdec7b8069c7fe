package hls

import (
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"lectern/program"
)

// Track IDs in the fMP4 files.
const (
	videoTrackID = 1
	audioTrackID = 2
)

// silenceAfter is how long without audio frames before the muxer fills the
// audio track with silence, so that players (whose buffered range is the
// intersection of audio and video) keep playing a program without sound.
const silenceAfter = 500 * time.Millisecond

// silentOpus are 20 ms Opus packets of silence (RFC 6716 section 3.1: CELT
// fullband 20 ms, one frame), mono and stereo.
var silentOpus = [2][]byte{{0xf8, 0xff, 0xfe}, {0xfc, 0xff, 0xfe}}

// defaultAudio is declared in the init segment while the program has no audio.
var defaultAudio = &program.Codec{Name: program.CodecOpus, ClockRate: 48000, Channels: 2}

// part is one fMP4 fragment (moof and mdat) of a segment. seq numbers the
// rendition's parts from 0 through every segment: it names the part's file
// and is its fMP4 sequence number.
type part struct {
	seq         uint64
	data        []byte
	duration    time.Duration
	independent bool
}

// initSegment is a rendition's fMP4 initialization segment, numbered.
type initSegment struct {
	n    int
	data []byte
}

// segBuild is a segment being written or, once complete, kept for readers.
type segBuild struct {
	msn           uint64
	parts         []*part
	duration      time.Duration
	bytes         int
	frames        int
	init          *initSegment
	discontinuity bool
	pdt           time.Time
	startDTS      int64
	complete      bool
}

// partBuild collects the samples of the part being written.
type partBuild struct {
	video, audio         []*fmp4.Sample
	videoBase, audioBase int64
	lastVideoDTS         int64
	lastAudioDTS         int64
	independent          bool
	received             time.Time
}

// writeVideo adds a video frame: it may close the part, cut the segment, or
// (for a new source or coding) start a segment after a discontinuity.
func (r *rendition) writeVideo(f *program.Frame) {
	cfg := r.st.cfg
	if r.open == nil {
		if !f.Keyframe {
			r.askKeyframe()
			return
		}
		r.startSegment(f, false)
		r.publish()
	} else {
		segDur := program.Duration(f.DTS-r.open.startDTS, 90000)
		switch {
		case f.Keyframe && (f.Switch || f.Codec != r.video || r.audioChanged):
			r.cut(f, true)
		case f.Keyframe && segDur >= cfg.SegmentDuration-cfg.PartDuration:
			r.cut(f, false)
		case f.Switch || f.Codec != r.video:
			return // a new source starts at a keyframe; never mix codings in a segment
		case segDur+program.Duration(r.est, 90000) > time.Duration(cfg.targetDuration())*time.Second-cfg.PartDuration:
			r.cut(f, false) // no keyframe came: keep within the target duration
		case len(r.cur.video) > 0 && f.DTS-r.cur.videoBase >= r.partTicks():
			r.closePart(f.DTS)
			r.publish()
		}
	}
	r.appendVideo(f)
	if !r.keyAsked && program.Duration(f.DTS-r.open.startDTS, 90000) >= cfg.SegmentDuration-2*cfg.PartDuration {
		r.askKeyframe()
	}
	// Close the part now if the next frame would not fit, rather than wait
	// for it: the part reaches the playlist as soon as its last frame arrived.
	if remaining := r.partTicks() - (f.DTS + r.est - r.cur.videoBase); remaining < r.est/2 {
		r.closePart(-1)
		r.publish()
	}
}

func (r *rendition) partTicks() int64 { return program.Ticks(r.st.cfg.PartDuration, 90000) }

func (r *rendition) askKeyframe() {
	r.keyAsked = true
	r.st.requestKeyframe(r.index)
}

// appendVideo adds f to the part, fixing the duration of the frame before it.
func (r *rendition) appendVideo(f *program.Frame) {
	avcc, err := h264.AVCC(f.AU).Marshal()
	if err != nil {
		return
	}
	c := &r.cur
	if n := len(c.video); n > 0 {
		d := f.DTS - c.lastVideoDTS
		c.video[n-1].Duration = uint32(max(1, d))
		r.est = min(max(d, 90), 90000/5)
	} else {
		c.videoBase, c.independent = f.DTS, f.Keyframe
	}
	c.video = append(c.video, &fmp4.Sample{Duration: uint32(r.est), PTSOffset: f.PTSOffset, IsNonSyncSample: !f.Keyframe, Payload: avcc})
	c.lastVideoDTS, c.received = f.DTS, f.Received
	r.open.frames++
}

// writeAudio adds an audio frame to the part being written.
func (r *rendition) writeAudio(f *program.Frame) {
	if r.open == nil {
		return
	}
	if !sameAudio(f.Codec, r.audio) {
		if !r.audioChanged {
			r.audioChanged = true
			r.askKeyframe()
		}
		return // dropped until a new init segment declares the codec
	}
	r.lastAudio = f.Received
	if f.DTS < r.audioEnd-f.Duration/2 {
		return // overlaps what is written: late, or silence was filled
	}
	r.addAudio(f.DTS, f.Duration, f.Payload)
}

func (r *rendition) addAudio(dts, dur int64, payload []byte) {
	c := &r.cur
	if n := len(c.audio); n > 0 {
		if gap := dts - c.lastAudioDTS; gap > 0 && gap < 3*dur {
			c.audio[n-1].Duration = uint32(gap)
		}
	} else {
		c.audioBase = dts
	}
	c.audio = append(c.audio, &fmp4.Sample{Duration: uint32(dur), Payload: payload})
	c.lastAudioDTS, r.audioEnd = dts, dts+dur
}

// fillSilence writes Opus silence up to the end of the video when no audio has
// come for a while.
func (r *rendition) fillSilence(videoEnd int64, now time.Time) {
	if r.audio.Name != program.CodecOpus || now.Sub(r.lastAudio) < silenceAfter {
		return
	}
	const frame = 960 // 20 ms at 48 kHz
	end := videoEnd * int64(r.audio.ClockRate) / 90000
	silence := silentOpus[min(r.audio.Channels, 2)-1]
	for r.audioEnd+frame <= end {
		r.addAudio(r.audioEnd, frame, silence)
	}
}

// cut ends the segment before f and starts the next with f.
func (r *rendition) cut(f *program.Frame, discontinuity bool) {
	if len(r.cur.video) > 0 {
		r.closePart(f.DTS)
	}
	r.completeSegment()
	r.startSegment(f, discontinuity)
	r.publish()
}

// startSegment opens a segment whose first frame is f, with a new init
// segment if the coding changed.
func (r *rendition) startSegment(f *program.Frame, discontinuity bool) {
	carry := partBuild{audio: r.cur.audio, audioBase: r.cur.audioBase, lastAudioDTS: r.cur.lastAudioDTS}
	if r.init == nil || f.Codec != r.video || r.audioChanged {
		if r.audioChanged {
			carry = partBuild{} // audio of the old codec
		}
		r.video, r.audio, r.audioChanged = f.Codec, r.st.audioCodec(), false
		r.inits++
		data, err := marshalInit(r.video, r.audio)
		if err != nil {
			r.st.log.Warn("hls: init segment", "rendition", r.index, "err", err)
			return
		}
		r.init = &initSegment{n: r.inits, data: data}
	}
	if r.nextMSN == r.st.msnBase && len(r.segs) == 0 {
		r.audioEnd = f.DTS * int64(r.audio.ClockRate) / 90000
	}
	r.open = &segBuild{msn: r.nextMSN, init: r.init, discontinuity: discontinuity, startDTS: f.DTS, pdt: r.st.pdt(f.DTS)}
	r.nextMSN++
	r.keyAsked = false
	// Audio that came after the last part goes into the new segment's first.
	r.cur = carry
}

// closePart writes the samples collected so far as a part. next is the DTS
// of the video frame that follows, or -1 if it has not come yet.
func (r *rendition) closePart(next int64) {
	c := &r.cur
	if len(c.video) == 0 && len(c.audio) == 0 {
		return
	}
	var dur time.Duration
	if n := len(c.video); n > 0 {
		last := c.video[n-1]
		d := r.est
		if next >= 0 {
			d = next - c.lastVideoDTS
		}
		d = min(d, r.partTicks()-(c.lastVideoDTS-c.videoBase))
		last.Duration = uint32(max(d, 1))
		end := c.lastVideoDTS + int64(last.Duration)
		dur = program.Duration(end-c.videoBase, 90000)
		r.fillSilence(end, time.Now())
	} else {
		var sum int64
		for _, s := range c.audio {
			sum += int64(s.Duration)
		}
		dur = program.Duration(sum, r.audio.ClockRate)
	}
	// The fragment's sequence number is the part's, in 32 bits: it goes on
	// from the room's earlier stream, as the part numbers do.
	pt := fmp4.Part{SequenceNumber: uint32(r.partSeq)}
	if len(c.video) > 0 {
		pt.Tracks = append(pt.Tracks, &fmp4.PartTrack{ID: videoTrackID, BaseTime: uint64(c.videoBase), Samples: c.video})
	}
	if len(c.audio) > 0 {
		pt.Tracks = append(pt.Tracks, &fmp4.PartTrack{ID: audioTrackID, BaseTime: uint64(c.audioBase), Samples: c.audio})
	}
	var buf seekablebuffer.Buffer
	if err := pt.Marshal(&buf); err != nil {
		r.st.log.Warn("hls: write part", "rendition", r.index, "msn", r.open.msn, "err", err)
		r.cur = partBuild{}
		return
	}
	// A part of video is independent when it starts at a keyframe; one of
	// an audio-only stream always is.
	independent := c.independent && (len(c.video) > 0 || r.video == nil)
	p := &part{seq: r.partSeq, data: buf.Bytes(), duration: dur, independent: independent}
	r.partSeq++
	r.open.parts = append(r.open.parts, p)
	r.open.duration += dur
	r.open.bytes += len(p.data)
	r.lastReceived = c.received
	r.cur = partBuild{}
}

// completeSegment closes the open segment and slides the playlist's window:
// it lists at least three target durations (RFC 8216bis section 6.2.2) and
// keeps removed segments and parts downloadable for a while longer.
func (r *rendition) completeSegment() {
	s := r.open
	r.open = nil
	if s == nil || len(s.parts) == 0 {
		return
	}
	s.complete = true
	r.segs = append(r.segs, s)
	if r.st.m.onSegment != nil {
		r.st.m.onSegment(r.segment(s))
	}
	target := time.Duration(r.st.cfg.targetDuration()) * time.Second
	keep := 3*target + r.st.cfg.SegmentDuration
	var listed time.Duration
	for _, x := range r.segs[r.first:] {
		listed += x.duration
	}
	for r.first < len(r.segs)-1 && listed-r.segs[r.first].duration >= keep {
		listed -= r.segs[r.first].duration
		if r.segs[r.first].discontinuity {
			r.discSeq++
		}
		r.first++
	}
	var retained time.Duration
	for _, x := range r.segs[:r.first] {
		retained += x.duration
	}
	for r.first > 0 && retained-r.segs[0].duration >= keep {
		retained -= r.segs[0].duration
		r.segs[0] = nil
		r.segs = r.segs[1:]
		r.first--
	}
}

// marshalInit writes an init segment with the video and audio tracks, or
// the audio track alone when video is nil (an audio-only stream).
func marshalInit(video, audio *program.Codec) ([]byte, error) {
	var in fmp4.Init
	if video != nil {
		in.Tracks = append(in.Tracks, &fmp4.InitTrack{ID: videoTrackID, TimeScale: 90000, Codec: mp4Codec(video)})
	}
	in.Tracks = append(in.Tracks, &fmp4.InitTrack{ID: audioTrackID, TimeScale: uint32(audio.ClockRate), Codec: mp4Codec(audio)})
	var buf seekablebuffer.Buffer
	if err := in.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("hls: write init: %w", err)
	}
	return buf.Bytes(), nil
}

// sameAudio reports whether two audio codecs need the same init segment.
func sameAudio(a, b *program.Codec) bool {
	if a == nil || b == nil || a.Name != b.Name || a.ClockRate != b.ClockRate || a.Channels != b.Channels {
		return false
	}
	return a.AAC == nil || b.AAC != nil && *a.AAC == *b.AAC
}

// mp4Codec is the sample entry description of a coding in the init segment.
func mp4Codec(c *program.Codec) mp4.Codec {
	switch c.Name {
	case program.CodecH264:
		return &mp4.CodecH264{SPS: c.SPS, PPS: c.PPS}
	case program.CodecOpus:
		return &mp4.CodecOpus{ChannelCount: c.Channels}
	case program.CodecAAC:
		return &mp4.CodecMPEG4Audio{Config: *c.AAC}
	}
	return nil
}
