package sfu

import (
	"crypto/rand"
	"encoding/hex"
	"sync"

	"lectern/access"
)

// RoomOptions are a room's media settings, from its stored configuration.
type RoomOptions struct {
	// Broadcast limits publishers to H.264 and Opus so HLS and recordings can
	// carry their media.
	Broadcast bool
	// Tier caps what publishers are asked to send and what is forwarded.
	Tier access.Tier
	// Refused are the sources the room's media policy refuses, and
	// NoSimulcast refuses several layers of one track; the zero value takes
	// everything. They apply to offers and encoders from then on: what is
	// already published stays.
	Refused     access.Sources
	NoSimulcast bool
}

// Room is the media side of one room: its participants, the publishers from
// other rooms that publish into it, and the tracks it carries. The maps are
// guarded by mu, which is never held while calling into a Participant.
type Room struct {
	sfu *SFU
	id  string
	// edge marks a cascade edge's room (edge.go): registered apart from the
	// node's own rooms and unseen by watchers.
	edge bool
	// speakers finds the active speaker for subscribers' allocators (speaker.go).
	speakers speakers

	mu      sync.Mutex
	opts    RoomOptions
	members map[string]*Participant
	guests  map[string]*Participant
	tracks  map[string]*Track
	// observers follow track events (observe.go).
	observers map[*observer]bool

	// prog is the broadcast program's choice; progChanged is closed and
	// replaced when it changes (program.go). Both are guarded by progMu.
	progMu      sync.Mutex
	prog        ProgramChoice
	progChanged chan struct{}
}

// AudioOnly reports whether the room's media policy takes no video source:
// its broadcast carries audio alone.
func (o RoomOptions) AudioOnly() bool { return o.Refused.Has(access.Camera | access.Screen) }

func newRoom(s *SFU, id string, opts RoomOptions) *Room {
	return &Room{sfu: s, id: id, opts: opts, members: map[string]*Participant{},
		guests: map[string]*Participant{}, tracks: map[string]*Track{}, observers: map[*observer]bool{}}
}

// ID is the room's ID.
func (r *Room) ID() string { return r.id }

// Options returns the room's media options.
func (r *Room) Options() RoomOptions { return r.options() }

func (r *Room) options() RoomOptions {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opts
}

func (r *Room) setOptions(o RoomOptions) {
	r.mu.Lock()
	r.opts = o
	r.mu.Unlock()
}

// Join adds a participant. Others who may list see it join.
func (r *Room) Join(o ParticipantOptions) (*Participant, error) {
	s := r.sfu
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	reg := s.registry(r)
	if live := reg[r.id]; live != r {
		// The room emptied and left the registry since the caller got it: join
		// the live one (or put this one back), so Close still reaches everyone.
		if live != nil {
			s.mu.Unlock()
			return live.Join(o)
		}
		reg[r.id] = r
	}
	p := newParticipant(r, o)
	r.mu.Lock()
	// One identity is one participant of a kind: a new session (another
	// tab, a reconnect after a dead network) replaces the old one.
	var replaced []*Participant
	for _, old := range r.members {
		if old.identity == o.Identity && old.kind == o.Kind {
			replaced = append(replaced, old)
		}
	}
	r.members[p.id] = p
	r.mu.Unlock()
	s.mu.Unlock()
	for _, old := range replaced {
		old.send(Event{Type: EventReplaced, Reason: "this identity joined the room again elsewhere"})
		go old.Close("replaced by " + p.id)
	}
	r.sfu.log.Info("participant joined", "room", r.id, "participant", p.id, "identity", o.Identity, "kind", o.Kind)
	joined := Event{Type: EventParticipantJoined, Room: r.id, Participant: ptr(p.Info())}
	r.notify(joined, p, needList)
	if !p.unwatched {
		r.watch(joined)
	}
	if o.Permissions.Has(access.Subscribe) && o.AutoSubscribe {
		for _, t := range r.Tracks() {
			if t.owner != p && t.webrtc {
				p.subscribeTrack(t)
			}
		}
	}
	return p, nil
}

// Participant returns a participant of the room by ID.
func (r *Room) Participant(id string) (*Participant, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.members[id]
	return p, ok
}

// Participants returns the room's own participants.
func (r *Room) Participants() []*Participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Participant, 0, len(r.members))
	for _, p := range r.members {
		out = append(out, p)
	}
	return out
}

// Roster describes everyone in the room, guests included.
func (r *Room) Roster() []ParticipantInfo {
	r.mu.Lock()
	ps := make([]*Participant, 0, len(r.members)+len(r.guests))
	for _, p := range r.members {
		ps = append(ps, p)
	}
	for _, p := range r.guests {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	out := make([]ParticipantInfo, len(ps))
	for i, p := range ps {
		out[i] = p.infoIn(r)
	}
	return out
}

// Tracks returns the tracks the room carries.
func (r *Room) Tracks() []*Track {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Track, 0, len(r.tracks))
	for _, t := range r.tracks {
		out = append(out, t)
	}
	return out
}

// Track returns a track the room carries.
func (r *Room) Track(id string) (*Track, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.tracks[id]
	return t, ok
}

// addTrack makes t available in the room and subscribes those who want everything.
func (r *Room) addTrack(t *Track) {
	r.mu.Lock()
	if _, ok := r.tracks[t.id]; ok {
		r.mu.Unlock()
		return
	}
	r.tracks[t.id] = t
	members := make([]*Participant, 0, len(r.members))
	for _, p := range r.members {
		members = append(members, p)
	}
	r.mu.Unlock()
	t.announceMu.Lock()
	info := t.Info()
	ev := Event{Type: EventTrackPublished, Room: r.id, Track: &info}
	r.notify(ev, nil, needList)
	r.observe(ev)
	t.announceMu.Unlock()
	for _, p := range members {
		if p != t.owner && t.webrtc && p.autoSubscribe && p.Permissions().Has(access.Subscribe) {
			p.subscribeTrack(t)
		}
	}
}

// removeTrack stops forwarding t to the room's participants.
func (r *Room) removeTrack(t *Track) {
	r.mu.Lock()
	if _, ok := r.tracks[t.id]; !ok {
		r.mu.Unlock()
		return
	}
	delete(r.tracks, t.id)
	members := make([]*Participant, 0, len(r.members))
	for _, p := range r.members {
		members = append(members, p)
	}
	r.mu.Unlock()
	for _, p := range members {
		p.unsubscribeTrack(t.id)
	}
	info := t.Info()
	ev := Event{Type: EventTrackUnpublished, Room: r.id, Track: &info}
	r.notify(ev, nil, needList)
	r.observe(ev)
	r.sfu.roomEmpty(r)
}

// addGuest shows a publisher from another room in this room's roster.
func (r *Room) addGuest(p *Participant) {
	r.mu.Lock()
	_, had := r.guests[p.id]
	r.guests[p.id] = p
	r.mu.Unlock()
	if !had {
		r.notify(Event{Type: EventParticipantJoined, Room: r.id, Participant: ptr(p.infoIn(r))}, nil, needList)
	}
}

func (r *Room) removeGuest(p *Participant) {
	r.mu.Lock()
	_, had := r.guests[p.id]
	delete(r.guests, p.id)
	r.mu.Unlock()
	if had {
		r.notify(Event{Type: EventParticipantLeft, Room: r.id, Participant: &ParticipantInfo{ID: p.id, Identity: p.identity, Name: p.name, Kind: p.kind}}, nil, needList)
		r.sfu.roomEmpty(r)
	}
}

// leave removes a participant that has closed.
func (r *Room) leave(p *Participant) {
	r.mu.Lock()
	_, had := r.members[p.id]
	delete(r.members, p.id)
	r.mu.Unlock()
	if had {
		left := Event{Type: EventParticipantLeft, Room: r.id, Participant: &ParticipantInfo{ID: p.id, Identity: p.identity, Name: p.name, Kind: p.kind}}
		r.notify(left, p, needList)
		if !p.unwatched {
			r.watch(left)
		}
	}
	r.sfu.roomEmpty(r)
}

// empty reports whether nobody is in the room. Called with the SFU's lock held.
func (r *Room) empty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.members) == 0 && len(r.guests) == 0 && len(r.tracks) == 0 && len(r.observers) == 0
}

// hasMedia reports whether participants, guests or tracks are in the room.
func (r *Room) hasMedia() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.members) > 0 || len(r.guests) > 0 || len(r.tracks) > 0
}

func needList(p *Participant) bool { return p.Permissions().Has(access.List) }

// notify sends ev to the room's participants for which need is true, except one.
func (r *Room) notify(ev Event, except *Participant, need func(*Participant) bool) {
	for _, p := range r.Participants() {
		if p != except && need(p) {
			p.send(ev)
		}
	}
}

// closeAll ends every participant, for shutdown or when the room moved.
func (r *Room) closeAll(reason string) {
	for _, p := range r.Participants() {
		p.Close(reason)
	}
}

func ptr[T any](v T) *T { return &v }

func newID(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
