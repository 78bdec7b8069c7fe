package sfu

import (
	"fmt"
	"slices"
)

// Moderation by the server itself (the REST API's live-room routes), as
// opposed to a moderator participant's requests (control.go).

// ByIdentity returns the room's participants who joined as identity, the
// latest first.
func (r *Room) ByIdentity(identity string) []*Participant {
	var out []*Participant
	for _, p := range r.Participants() {
		if p.identity == identity {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b *Participant) int { return b.joined.Compare(a.joined) })
	return out
}

// RemoveIdentity ends every session of identity in the room: each client
// gets a removed event with reason, then its connections close. It returns
// how many sessions it ended and waits for them to close.
func (r *Room) RemoveIdentity(identity, reason string) int {
	ps := r.ByIdentity(identity)
	for _, p := range ps {
		p.send(Event{Type: EventRemoved, Reason: reason})
	}
	for _, p := range ps {
		p.Close("removed: " + reason)
	}
	return len(ps)
}

// SetTrackMuted mutes or unmutes a track in the room for everyone, as a
// moderator would; everyone who may list hears of it.
func (r *Room) SetTrackMuted(trackID string, muted bool) error {
	t, ok := r.Track(trackID)
	if !ok {
		return fmt.Errorf("%w: %s", ErrTrackNotFound, trackID)
	}
	if t.setMuted(muted) {
		t.owner.announceTrack(t)
	}
	return nil
}
