package program

import (
	"slices"
	"time"

	"lectern/sfu"
)

// OnAir is a moderator's choice of what the broadcast carries. An empty track
// ID leaves that kind automatic: the active speaker's in follow-speaker mode,
// otherwise the first publisher's.
type OnAir struct {
	Video, Audio  string
	FollowSpeaker bool
}

// choose applies the selection rules to the room's tracks.
func (p *Program) choose(now time.Time) (video, audio *input) {
	usable := func(id string, kind Kind) *input {
		if in := p.inputs[id]; in != nil && in.kind == kind && in.codec != "" {
			return in
		}
		return nil
	}
	if p.audioOnly {
		// No video goes on air, even a screen a member's override let in.
		if audio = usable(p.onAir.Audio, Audio); audio == nil && p.onAir.FollowSpeaker && p.speaker.current != "" {
			audio = p.trackOf(p.speaker.current, Audio)
		}
		if audio == nil {
			audio = p.first(Audio, now)
		}
		return nil, audio
	}
	video, audio = usable(p.onAir.Video, Video), usable(p.onAir.Audio, Audio)
	if p.onAir.FollowSpeaker && p.speaker.current != "" {
		if video == nil {
			video = p.trackOf(p.speaker.current, Video)
		}
		if audio == nil {
			audio = p.trackOf(p.speaker.current, Audio)
		}
	}
	if video == nil && p.onAir.FollowSpeaker && p.speaker.current != "" && p.video.target != nil && p.inputs[p.video.target.id()] == p.video.target {
		video = p.video.target // the speaker has no camera: keep the picture
	}
	if video == nil {
		video = p.first(Video, now)
	}
	if audio == nil && video != nil {
		audio = p.trackOf(video.track.Owner().ID(), Audio)
	}
	if audio == nil {
		audio = p.first(Audio, now)
	}
	return video, audio
}

// sorted returns the broadcastable inputs of a kind in publication order.
func (p *Program) sorted(kind Kind) []*input {
	var out []*input
	for _, in := range p.inputs {
		if in.kind == kind && in.codec != "" {
			out = append(out, in)
		}
	}
	slices.SortFunc(out, func(a, b *input) int {
		if a.track.Order() < b.track.Order() {
			return -1
		}
		return 1
	})
	return out
}

// first is the first publisher's track of a kind (its camera or microphone
// if it has one). While nothing is on air, a video track published in the
// last moment waits for its simulcast layers.
func (p *Program) first(kind Kind, now time.Time) *input {
	for _, in := range p.sorted(kind) {
		if kind == Video && p.video.target == nil && now.Sub(in.since) < settle {
			continue
		}
		if best := p.trackOf(in.track.Owner().ID(), kind); best != nil {
			return best
		}
		return in
	}
	return nil
}

// trackOf is a participant's track of a kind: the camera or microphone first.
func (p *Program) trackOf(participant string, kind Kind) *input {
	var best *input
	for _, in := range p.sorted(kind) {
		if in.track.Owner().ID() != participant {
			continue
		}
		if s := in.track.Source(); s == sfu.SourceCamera || s == sfu.SourceMicrophone {
			return in
		}
		if best == nil {
			best = in
		}
	}
	return best
}

// Speaker detection: the loudest participant (by the audio level that WebRTC
// publishers send, RFC 6464) becomes the speaker once they have been the
// loudest for a while, and not too soon after the last change.
const (
	// speechLevel is the least average loudness that counts as speaking: -50 dBov.
	speechLevel = 127 - 50
	// speakerHold is how long someone must be the loudest to take over.
	speakerHold = time.Second
	// speakerMinTurn is the least time between two changes of speaker.
	speakerMinTurn = 2 * time.Second
)

// speaker is the follow-speaker state, owned by the program loop.
type speaker struct {
	current   string // participant ID
	candidate string
	since     time.Time
	changed   time.Time
}

// levels returns each participant's loudest recent audio level.
func levels(inputs map[string]*input, now time.Time) map[string]int {
	out := map[string]int{}
	for _, in := range inputs {
		if in.kind != Audio {
			continue
		}
		if l, ok := in.level(now); ok {
			id := in.track.Owner().ID()
			out[id] = max(out[id], l)
		}
	}
	return out
}

// update takes the participants' levels (0 silent to 127) at now.
func (s *speaker) update(levels map[string]int, now time.Time) {
	loudest, best := "", speechLevel-1
	for id, l := range levels {
		if l > best || l == best && id < loudest {
			loudest, best = id, l
		}
	}
	switch {
	case loudest == "" || loudest == s.current:
		s.candidate = ""
	case loudest != s.candidate:
		s.candidate, s.since = loudest, now
	case now.Sub(s.since) >= speakerHold && now.Sub(s.changed) >= speakerMinTurn:
		s.current, s.candidate, s.changed = loudest, "", now
	}
}
