package program

import (
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// MaxRenditions caps the video renditions: simulcast sends at most three layers.
const MaxRenditions = 3

// Alignment of a new layer with its track's other layers, and the least step
// between two frames of a rendition (a 60 fps frame).
const (
	alignTolerance = 90000 * 150 / 1000
	minFrameStep   = 90000 / 60
)

// source is one RTP stream of a video input: a simulcast layer.
type source struct {
	in    *input
	layer int
}

// slot is one video rendition of the program. It forwards cur, and switches
// to next at next's first keyframe, rewriting timestamps so that the
// rendition's timeline runs on without a jump.
type slot struct {
	index     int
	cur, next source
	ssrc      uint32
	tl        timeline
	dep       *h264Depacketizer
	codec     *Codec
	lastDTS   int64
	emitted   bool
	switching bool
}

// videoState is the program's video: the chosen input and its renditions.
// Renditions are added as simulcast layers appear and stay for the broadcast.
type videoState struct {
	target *input
	slots  []*slot
}

// layerFor is the layer of in that feeds rendition i: the same layer, or the
// top one when in has fewer layers than there are renditions.
func layerFor(i int, in *input) int { return min(i, in.layers-1) }

// setVideo makes in the program's video. The switch happens per rendition at
// in's next keyframe, which is asked for; until then the old video goes on.
func (p *Program) setVideo(in *input) {
	v := &p.video
	if in == v.target {
		return
	}
	old := v.target
	v.target = in
	if in == nil {
		v.slots = nil
		p.release(old)
		p.goIdle()
		p.audio.started = false
		return
	}
	p.log.Info("program video", "track", in.id(), "participant", in.track.Owner().ID(), "source", in.track.Source())
	in.live.Store(true)
	p.retarget()
}

// retarget points every rendition at the target's layer for it, adding
// renditions for layers that appeared.
func (p *Program) retarget() {
	v := &p.video
	in := v.target
	for n := min(in.layers, MaxRenditions); len(v.slots) < n; {
		v.slots = append(v.slots, &slot{index: len(v.slots)})
	}
	var dropped []*input
	for _, s := range v.slots {
		want := source{in, layerFor(s.index, in)}
		switch {
		case s.cur == want:
			dropped = append(dropped, s.next.in)
			s.next = source{}
		case s.next != want:
			dropped = append(dropped, s.next.in)
			s.next = want
			in.track.RequestLayerKeyframe(want.layer)
		}
	}
	for _, d := range dropped {
		p.release(d)
	}
}

// release stops queueing the packets of a video input that no rendition uses.
func (p *Program) release(in *input) {
	if in == nil || in == p.video.target {
		return
	}
	for _, s := range p.video.slots {
		if s.cur.in == in || s.next.in == in {
			return
		}
	}
	p.unqueue(in)
	in.ref = timeline{}
}

func (p *Program) handleVideo(pk *packet) {
	in := pk.in
	if pk.layer >= in.layers {
		in.layers = pk.layer + 1
		if in == p.video.target {
			p.retarget()
		}
	}
	for _, s := range p.video.slots {
		switch {
		case s.next.in == in && s.next.layer == pk.layer:
			// The switch waits for a keyframe that brings its parameter
			// sets: until then the old source goes on.
			if !pk.keyframe || !carriesSPS(pk.payload) {
				continue
			}
			p.activate(s, pk)
		case s.cur.in == in && s.cur.layer == pk.layer:
			if pk.ssrc != s.ssrc {
				// The layer's stream changed (the track's layers were
				// re-ordered as they appeared): start over at a keyframe.
				s.next, s.cur = s.cur, source{}
				if !pk.keyframe || !carriesSPS(pk.payload) {
					in.track.RequestLayerKeyframe(pk.layer)
					continue
				}
				p.activate(s, pk)
			}
		default:
			continue
		}
		p.feed(s, pk)
	}
}

// activate switches rendition s to its next source at the keyframe packet pk.
func (p *Program) activate(s *slot, pk *packet) {
	prev := s.cur.in
	s.cur, s.next = s.next, source{}
	s.ssrc = pk.ssrc
	s.dep = newH264Depacketizer()
	// The new stream's frames are described by its own parameter sets only.
	s.codec = nil
	s.switching = s.emitted
	in := pk.in
	out := Ticks(pk.at.Sub(p.t0), 90000)
	if in.ref.anchored {
		if aligned := in.ref.peek(pk.ts); aligned-out < alignTolerance && out-aligned < alignTolerance {
			out = aligned
		}
	}
	if s.emitted && out < s.lastDTS+minFrameStep {
		out = s.lastDTS + minFrameStep
	}
	s.tl.anchor(pk.ts, out)
	if !in.ref.anchored {
		in.ref.anchor(pk.ts, out)
	}
	if prev != in {
		p.release(prev)
	}
}

// feed depacketizes one packet of rendition s and emits the frame it completes.
func (p *Program) feed(s *slot, pk *packet) {
	au, err := s.dep.push(pk)
	if err != nil {
		pk.in.track.RequestLayerKeyframe(pk.layer)
		return
	}
	if au == nil {
		return
	}
	key := h264.IsRandomAccess(au)
	codec := s.codec
	if key {
		if sps, pps := paramSets(au); sps != nil && pps != nil && !codec.sameParams(sps, pps) {
			c, err := NewH264Codec(sps, pps)
			if err != nil {
				p.log.Warn("program: bad SPS", "track", pk.in.id(), "err", err)
				return
			}
			codec = c
		}
		if codec != nil {
			au = withParams(au, codec)
		}
	}
	if codec == nil {
		s.dep.reset()
		pk.in.track.RequestLayerKeyframe(pk.layer)
		return
	}
	pts := s.tl.at(pk.ts)
	dts, err := s.dep.decodeTime(au, pts)
	if err != nil {
		pk.in.track.RequestLayerKeyframe(pk.layer)
		return
	}
	if s.emitted && dts <= s.lastDTS {
		dts = s.lastDTS + 1
	}
	pts = max(pts, dts)
	s.codec = codec
	f := &Frame{Kind: Video, Rendition: s.index, Codec: codec, DTS: dts, PTSOffset: int32(pts - dts),
		Keyframe: key, Switch: s.switching, AU: au, Audio: p.audio.codecOnAir(), Source: pk.in.id(), Received: pk.at}
	s.switching, s.emitted, s.lastDTS = false, true, dts
	p.emit(f)
}

// requestKeyframe asks for a keyframe in rendition i's current source.
func (v *videoState) requestKeyframe(i int) {
	if i < len(v.slots) {
		if c := v.slots[i].cur; c.in != nil {
			c.in.track.RequestLayerKeyframe(c.layer)
		}
	}
}

// retryKeyframes asks again for the keyframes pending switches wait for (the
// SFU throttles requests per layer).
func (v *videoState) retryKeyframes() {
	for _, s := range v.slots {
		if n := s.next; n.in != nil {
			n.in.track.RequestLayerKeyframe(n.layer)
		}
	}
}
