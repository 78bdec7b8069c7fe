package hls

import (
	"lectern/program"
)

// writeAudioOnly adds a frame of an audio-only stream. Every audio frame is
// independent, so a part closes once it holds a part duration and a segment
// is cut at the first frame past the segment duration; a new coding starts
// a segment with a new init segment after a discontinuity.
func (r *rendition) writeAudioOnly(f *program.Frame) {
	cfg := r.st.cfg
	clock := f.Codec.ClockRate
	switch {
	case r.open == nil:
		r.startAudioSegment(f, false)
		r.publish()
	case !sameAudio(f.Codec, r.audio):
		r.closePart(-1)
		r.completeSegment()
		r.startAudioSegment(f, true)
		r.publish()
	case program.Duration(f.DTS-r.open.startDTS, clock) >= cfg.SegmentDuration:
		r.closePart(-1)
		r.completeSegment()
		r.startAudioSegment(f, false)
		r.publish()
	case len(r.cur.audio) > 0 && program.Duration(f.DTS-r.cur.audioBase, clock) >= cfg.PartDuration:
		r.closePart(-1)
		r.publish()
	}
	if r.open == nil || f.DTS < r.audioEnd-f.Duration/2 {
		return // no init segment could be written, or it overlaps what is written
	}
	r.addAudio(f.DTS, f.Duration, f.Payload)
	r.cur.independent, r.cur.received = true, f.Received
	r.lastAudio = f.Received
	r.open.frames++
}

// startAudioSegment opens a segment of an audio-only stream whose first
// frame is f, with an init segment of the audio track alone when the coding
// is new.
func (r *rendition) startAudioSegment(f *program.Frame, discontinuity bool) {
	if r.init == nil || !sameAudio(f.Codec, r.audio) {
		r.video, r.audio = nil, f.Codec
		r.inits++
		data, err := marshalInit(nil, r.audio)
		if err != nil {
			r.st.log.Warn("hls: init segment", "rendition", r.index, "err", err)
			return
		}
		r.init = &initSegment{n: r.inits, data: data}
	}
	if r.nextMSN == r.st.msnBase && len(r.segs) == 0 {
		r.audioEnd = f.DTS
	}
	r.open = &segBuild{msn: r.nextMSN, init: r.init, discontinuity: discontinuity, startDTS: f.DTS, pdt: r.st.pdt(f.DTS)}
	r.nextMSN++
	r.cur = partBuild{}
}
