package sfu

import (
	"fmt"

	"lectern/access"
)

// SetLayer chooses the simulcast layer of a subscribed track by RID, or "auto"
// to let the server pick from the tier and network conditions.
func (p *Participant) SetLayer(trackID, rid string) error {
	d := p.down(trackID)
	if d == nil {
		return fmt.Errorf("%w: not subscribed to %s", ErrTrackNotFound, trackID)
	}
	if rid == "auto" {
		d.manual.Store(-1)
		d.auto.Store(true)
		d.layersChanged()
		d.track.dynacastSoon()
		return nil
	}
	i := -1
	d.track.mu.Lock()
	for j, l := range d.track.layers {
		if l.rid == rid {
			i = j
		}
	}
	d.track.mu.Unlock()
	if i < 0 {
		return fmt.Errorf("%w: %q", ErrBadLayer, rid)
	}
	d.manual.Store(int32(i))
	d.auto.Store(false)
	d.setTarget(i)
	d.track.dynacastSoon()
	return nil
}

// SetPaused stops (or resumes) sending a subscribed track to this participant
// only; while paused not a byte of it is sent.
func (p *Participant) SetPaused(trackID string, paused bool) error {
	d := p.down(trackID)
	if d == nil {
		return fmt.Errorf("%w: not subscribed to %s", ErrTrackNotFound, trackID)
	}
	if d.paused.Swap(paused) && !paused {
		d.resync()
	}
	d.track.dynacastSoon()
	return nil
}

func (p *Participant) down(trackID string) *downTrack {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.downs[trackID]
}

// SetMuted mutes or unmutes a track in the room: one's own with publish, anyone's
// with moderate. A muted track is not forwarded; everyone who may list hears of it.
func (p *Participant) SetMuted(trackID string, muted bool) error {
	t, ok := p.room.Track(trackID)
	if !ok {
		return fmt.Errorf("%w: %s", ErrTrackNotFound, trackID)
	}
	perms := p.Permissions()
	if t.owner != p && !perms.Has(access.Moderate) {
		return ErrNoModerate
	}
	if t.owner == p && !perms.Has(access.Publish) {
		return ErrNoPublish
	}
	if t.setMuted(muted) {
		t.owner.announceTrack(t)
	}
	return nil
}

// announceTrack tells every room the track is in that it changed.
func (p *Participant) announceTrack(t *Track) {
	t.announceMu.Lock()
	defer t.announceMu.Unlock()
	info := t.Info()
	for _, r := range p.targetRooms() {
		ev := Event{Type: EventTrackUpdated, Room: r.id, Track: &info}
		r.notify(ev, nil, needList)
		r.observe(ev)
	}
	if !p.Permissions().Has(access.List) {
		p.send(Event{Type: EventTrackUpdated, Room: p.room.id, Track: &info})
	}
}

// Remove ends another participant of the room (moderate).
func (p *Participant) Remove(id string) error {
	if !p.Permissions().Has(access.Moderate) {
		return ErrNoModerate
	}
	other, ok := p.room.Participant(id)
	if !ok {
		return fmt.Errorf("%w: %s", ErrParticipantNotFound, id)
	}
	other.send(Event{Type: EventRemoved, Reason: "removed by a moderator"})
	go other.Close("removed by " + p.id)
	return nil
}

// SetPermissions changes what the participant may do, at once: without publish
// its tracks stop and are unpublished; without subscribe its subscriptions end.
// The participant is told.
func (p *Participant) SetPermissions(perms access.Permissions) {
	old := *p.perms.Swap(&perms)
	p.send(Event{Type: EventPermissions, Permissions: &perms})
	if old.Has(access.Publish) && !perms.Has(access.Publish) {
		p.unpublishAll()
	}
	if old.Has(access.Subscribe) && !perms.Has(access.Subscribe) {
		p.mu.Lock()
		ids := make([]string, 0, len(p.downs))
		for id := range p.downs {
			ids = append(ids, id)
		}
		p.mu.Unlock()
		p.Unsubscribe(ids)
	}
	if !old.Has(access.Subscribe) && perms.Has(access.Subscribe) && p.autoSubscribe {
		for _, t := range p.room.Tracks() {
			if t.owner != p && t.webrtc {
				p.subscribeTrack(t)
			}
		}
	}
	p.announce()
}

// unpublishAll stops forwarding every track the participant publishes.
func (p *Participant) unpublishAll() {
	p.mu.Lock()
	published := p.published
	p.published = map[string]*Track{}
	for _, t := range published {
		p.retired = append(p.retired, t)
	}
	p.mu.Unlock()
	rooms := p.targetRooms()
	for _, t := range published {
		t.end()
		t.muted.Store(true)
		for _, r := range rooms {
			r.removeTrack(t)
		}
	}
}

// announce tells the rooms the participant is in that it changed.
func (p *Participant) announce() {
	for _, r := range p.targetRooms() {
		info := p.infoIn(r)
		r.notify(Event{Type: EventParticipantUpdated, Room: r.id, Participant: &info}, p, needList)
	}
}

func (p *Participant) targetRooms() []*Room {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Room, 0, len(p.targets))
	for r := range p.targets {
		out = append(out, r)
	}
	return out
}

// SetTargets sets the rooms the participant's tracks are published into, its own
// room included or not. The caller checks that it may publish in each. Rooms
// added get every track now and later; rooms removed lose them.
func (p *Participant) SetTargets(rooms []*Room) error {
	if !p.Permissions().Has(access.Publish) {
		return ErrNoPublish
	}
	want := make(map[*Room]bool, len(rooms))
	for _, r := range rooms {
		want[r] = true
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	old := p.targets
	p.targets = want
	tracks := make([]*Track, 0, len(p.published))
	for _, t := range p.published {
		tracks = append(tracks, t)
	}
	p.mu.Unlock()
	for r := range old {
		if !want[r] {
			for _, t := range tracks {
				r.removeTrack(t)
			}
			if r != p.room {
				r.removeGuest(p)
			}
		}
	}
	for r := range want {
		if !old[r] {
			if r != p.room {
				r.addGuest(p)
			}
			for _, t := range tracks {
				r.addTrack(t)
			}
		}
	}
	return nil
}
