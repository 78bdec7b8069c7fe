package program

import (
	"time"

	"lectern/sfu"
)

// Status is what is on air, for the API.
type Status struct {
	// Live is true while video frames flow.
	Live bool
	// Video and Audio are the on-air track IDs ("" for none).
	Video, Audio string
	// Speaker is the participant followed in follow-speaker mode.
	Speaker string
	// OnAir is the moderator's choice.
	OnAir OnAir
	// Renditions is the number of video renditions (simulcast layers).
	Renditions int
}

// updateStatus publishes what is on air for Status (program goroutine).
func (p *Program) updateStatus() {
	st := &Status{Live: p.live, OnAir: p.onAir, Speaker: p.speaker.current, Renditions: len(p.video.slots)}
	if p.video.target != nil {
		st.Video = p.video.target.id()
	}
	if p.audio.cur != nil {
		st.Audio = p.audio.cur.id()
	}
	p.status.Store(st)
	// WHEP viewers, who take the room's tracks as they are, follow it too.
	p.room.SetProgram(sfu.ProgramChoice{Video: st.Video, Audio: st.Audio})
}

// Status is what is on air now.
func (p *Program) Status() Status { return *p.status.Load() }

// SetOnAir changes the moderator's choice. Chosen tracks must be in the room
// and of the right kind and codec.
func (p *Program) SetOnAir(o OnAir) error {
	var err error
	ok := p.do(func() {
		if err = p.checkChoice(o.Video, Video); err != nil {
			return
		}
		if err = p.checkChoice(o.Audio, Audio); err != nil {
			return
		}
		p.onAir = o
		p.reselect(time.Now())
	})
	if !ok {
		return ErrClosed
	}
	return err
}

func (p *Program) checkChoice(id string, kind Kind) error {
	if id == "" {
		return nil
	}
	in, ok := p.inputs[id]
	switch {
	case !ok:
		return ErrTrackNotFound
	case in.kind != kind:
		return ErrWrongKind
	case in.codec == "":
		return ErrUnsupportedCodec
	}
	return nil
}
