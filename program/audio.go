package program

import (
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
)

// aacFrameSamples is the length of an AAC-LC access unit.
const aacFrameSamples = 1024

// audioState is the program's audio: one input at a time. Audio has no
// keyframes, so a switch happens at the new input's next packet, which is
// placed right after the last frame on the program's timeline.
type audioState struct {
	cur     *input
	started bool
	tl      timeline
	codec   *Codec
	aac     *aacDepacketizer
	// end is where the last frame ended, in codec ticks.
	end int64
}

// setAudio makes in the program's audio.
func (p *Program) setAudio(in *input) {
	a := &p.audio
	if in == a.cur {
		return
	}
	if a.cur != nil {
		p.unqueue(a.cur)
	}
	a.cur, a.started, a.aac = nil, false, nil
	if in == nil {
		return
	}
	codec := a.codec
	switch in.codec {
	case CodecOpus:
		ch := max(1, int(in.track.Codec().Channels))
		if codec == nil || codec.Name != CodecOpus || codec.Channels != ch {
			codec = &Codec{Name: CodecOpus, ClockRate: 48000, Channels: ch}
		}
	case CodecAAC:
		f, err := aacFormat(in.track.Codec())
		if err != nil {
			p.log.Warn("program: audio left out", "track", in.id(), "err", err)
			return
		}
		dec, err := f.CreateDecoder()
		if err != nil {
			p.log.Warn("program: audio left out", "track", in.id(), "err", err)
			return
		}
		a.aac = &aacDepacketizer{dec: dec}
		if codec == nil || codec.Name != CodecAAC || *codec.AAC != *f.Config || codec.ClockRate != f.ClockRate() {
			codec = &Codec{Name: CodecAAC, ClockRate: f.ClockRate(), Channels: f.Config.ChannelCount, AAC: f.Config}
		}
	default:
		return
	}
	if codec != a.codec && a.codec != nil {
		a.end = a.end * int64(codec.ClockRate) / int64(a.codec.ClockRate)
	}
	a.codec, a.cur = codec, in
	in.live.Store(true)
	p.log.Info("program audio", "track", in.id(), "participant", in.track.Owner().ID(), "codec", codec.Name)
}

func (p *Program) handleAudio(pk *packet) {
	a := &p.audio
	if pk.in != a.cur || (!p.live && !p.audioOnly) {
		a.started = a.started && p.live
		return
	}
	clock := a.codec.ClockRate
	if !a.started {
		out := max(Ticks(pk.at.Sub(p.t0), clock), a.end)
		a.tl.anchor(pk.ts, out)
		a.started = true
	}
	dts := a.tl.at(pk.ts)
	if a.aac == nil {
		d := opus.PacketDuration2(pk.payload)
		if d <= 0 {
			return
		}
		p.emitAudio(&Frame{Kind: Audio, Codec: a.codec, DTS: dts, Duration: d, Keyframe: true, Payload: pk.payload, Source: pk.in.id(),
			Received: pk.at, AudioOnly: p.audioOnly})
		return
	}
	aus, err := a.aac.push(pk)
	if err != nil {
		return
	}
	for i, au := range aus {
		p.emitAudio(&Frame{Kind: Audio, Codec: a.codec, DTS: dts + int64(i*aacFrameSamples), Duration: aacFrameSamples,
			Keyframe: true, Payload: au, Source: pk.in.id(), Received: pk.at, AudioOnly: p.audioOnly})
	}
}

func (p *Program) emitAudio(f *Frame) {
	if f.DTS+f.Duration > p.audio.end {
		p.audio.end = f.DTS + f.Duration
	}
	p.emit(f)
}

// codecOnAir is the coding of the audio on air, or nil.
func (a *audioState) codecOnAir() *Codec {
	if a.cur == nil {
		return nil
	}
	return a.codec
}
