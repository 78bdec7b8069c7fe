package sfu

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Active speaker detection for the allocator: a levelSink on each audio
// track reads the publisher's audio level (RFC 6464 header extension) and
// the room picks the loudest voice, held for speakerHold so that the
// priority of a video does not flap between words.

const (
	// speakerHold is how long a new voice must lead before it takes over.
	speakerHold = time.Second
	// speakingLevel is the loudness (127 minus the level in -dBov) above
	// which a voice counts: about -50 dBov.
	speakingLevel = 77
	// levelIDRetry is how often a track without a known extension ID looks again.
	levelIDRetry = 2 * time.Second
)

// levelSink follows one audio track's loudness. WriteRTP runs on the
// track's reader; the fields are atomics.
type levelSink struct {
	t *Track
	// id is the negotiated extension ID (0: none known), looked up by
	// activeSpeaker (it takes the publisher's locks) at checked.
	id      atomic.Int32
	checked time.Time
	// loud is the smoothed loudness times 256.
	loud atomic.Int64
	// at is when the last packet arrived (unix nanoseconds).
	at atomic.Int64
}

// WriteRTP implements Sink.
func (s *levelSink) WriteRTP(pkt *rtp.Packet, _ int, _ bool) {
	id := s.id.Load()
	if id == 0 {
		return // activeSpeaker looks the ID up
	}
	now := time.Now().UnixNano()
	ext := pkt.Header.GetExtension(uint8(id))
	if len(ext) < 1 {
		return
	}
	loud := int64(127-ext[0]&0x7f) * 256
	old := s.loud.Load()
	// Fast attack, slow release: about 20 packets (400 ms) to fall.
	if loud > old {
		old += (loud - old) / 4
	} else {
		old += (loud - old) / 20
	}
	s.loud.Store(old)
	s.at.Store(now)
}

// loudness is the smoothed loudness, 0 when the track has been silent for a while.
func (s *levelSink) loudness() int64 {
	if time.Now().UnixNano()-s.at.Load() > int64(speakerHold) {
		return 0
	}
	return s.loud.Load() / 256
}

// speakers is a room's active speaker detector, guarded by mu; checked in
// levelSink is guarded by it too.
type speakers struct {
	mu      sync.Mutex
	sinks   map[*Track]*levelSink
	current *Participant
	// challenger has led since challengedAt.
	challenger   *Participant
	challengedAt time.Time
	decidedAt    time.Time
}

// activeSpeaker returns the participant speaking now, or nil. It attaches a
// levelSink to audio tracks that have none and drops those of tracks gone.
func (r *Room) activeSpeaker() *Participant {
	sp := &r.speakers
	tracks := r.Tracks()
	sp.mu.Lock()
	defer sp.mu.Unlock()
	now := time.Now()
	if now.Sub(sp.decidedAt) < allocateEvery/2 {
		return sp.current
	}
	sp.decidedAt = now
	if sp.sinks == nil {
		sp.sinks = map[*Track]*levelSink{}
	}
	live := make(map[*Track]bool, len(tracks))
	owners := make(map[*Participant]bool, len(tracks))
	var loudest *Participant
	var best int64
	for _, t := range tracks {
		if t.keyframe != nil || t.source != SourceMicrophone {
			continue
		}
		live[t] = true
		owners[t.owner] = true
		s := sp.sinks[t]
		if s == nil {
			s = &levelSink{t: t}
			sp.sinks[t] = s
			t.AddSink(s)
		}
		if s.id.Load() == 0 && now.Sub(s.checked) >= levelIDRetry {
			s.checked = now
			s.id.Store(int32(t.AudioLevelID()))
		}
		if l := s.loudness(); l > speakingLevel && l > best && !t.muted.Load() {
			loudest, best = t.owner, l
		}
	}
	for t, s := range sp.sinks {
		if !live[t] {
			t.RemoveSink(s)
			delete(sp.sinks, t)
		}
	}
	if !owners[sp.current] {
		sp.current = nil
	}
	switch {
	case loudest == nil || loudest == sp.current:
		sp.challenger = nil
	case sp.current == nil:
		sp.current, sp.challenger = loudest, nil
	case loudest != sp.challenger:
		sp.challenger, sp.challengedAt = loudest, now
	case now.Sub(sp.challengedAt) >= speakerHold:
		sp.current, sp.challenger = loudest, nil
	}
	return sp.current
}
