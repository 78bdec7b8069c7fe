package sfu

import (
	"errors"
	"fmt"

	"github.com/pion/webrtc/v4"
)

// ErrNothingToView is returned to a viewer when nothing is published in the room yet.
var ErrNothingToView = errors.New("sfu: nothing is published in this room yet")

// View answers a viewer's offer (WHEP): the client offers receive-only sections
// and the server sends the room's program into them, the earliest published
// video and an audio track of the same publisher (or else the earliest audio).
// A viewer cannot renegotiate, so when the program's video ends the viewer is
// closed and reconnects for the next program.
func (p *Participant) View(offer string) (string, error) {
	if !p.Permissions().Subscribe {
		return "", ErrNoSubscribe
	}
	opts := p.room.options()
	if err := checkOffer(offer, opts.Broadcast); err != nil {
		return "", err
	}
	video, audio := Program(p.room.Tracks())
	if video == nil && audio == nil {
		return "", ErrNothingToView
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return "", ErrClosed
	}
	if p.sub != nil {
		return "", fmt.Errorf("%w: this viewer is already connected", ErrNegotiation)
	}
	pc, err := p.newSubscriberPC()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNegotiation, err)
	}
	p.sub = pc
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	for _, t := range []*Track{video, audio} {
		if t == nil {
			continue
		}
		err := p.attachLocked(t, func(d *downTrack) (*webrtc.RTPSender, error) { return pc.AddTrack(d) })
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrUnsupportedCodecs, err)
		}
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNegotiation, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("%w: %v", ErrNegotiation, err)
	}
	<-gathered
	end := video
	if end == nil {
		end = audio
	}
	go func() {
		select {
		case <-end.Done():
			p.Close("the program ended")
		case <-p.done:
		}
	}()
	return pc.LocalDescription().SDP, nil
}

// Program picks what a single-program viewer (WHEP, RTSP, HLS) gets: the
// earliest published WebRTC-capable video track, and an audio track of the same
// publisher, or else the earliest audio track.
func Program(tracks []*Track) (video, audio *Track) {
	for _, t := range tracks {
		if !t.webrtc {
			continue
		}
		if t.kind == webrtc.RTPCodecTypeVideo && (video == nil || t.order < video.order) {
			video = t
		}
	}
	for _, t := range tracks {
		if !t.webrtc || t.kind != webrtc.RTPCodecTypeAudio {
			continue
		}
		switch {
		case audio == nil:
			audio = t
		case video != nil && t.owner == video.owner && audio.owner != video.owner:
			audio = t
		case (video == nil || (t.owner == video.owner) == (audio.owner == video.owner)) && t.order < audio.order:
			audio = t
		}
	}
	return video, audio
}
