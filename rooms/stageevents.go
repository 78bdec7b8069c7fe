package rooms

import "time"

// Stage event types: one for every change of a room's stage.
const (
	EventHandRaised          = "hand_raised"
	EventHandLowered         = "hand_lowered"
	EventHandDismissed       = "hand_dismissed"
	EventInvited             = "invited"
	EventInvitationDeclined  = "invitation_declined"
	EventInvitationWithdrawn = "invitation_withdrawn"
	EventInvitationExpired   = "invitation_expired"
	EventGuestJoined         = "guest_joined"
	EventGuestLeft           = "guest_left"
)

// StageEvent is one change of a room's stage, about one identity. The field
// of its kind is set (Hand, Invitation or Guest); Reason says why a guest left.
type StageEvent struct {
	Type       string      `json:"event"`
	Room       string      `json:"room"`
	Identity   string      `json:"identity"`
	At         time.Time   `json:"at"`
	Hand       *Hand       `json:"hand,omitempty"`
	Invitation *Invitation `json:"invitation,omitempty"`
	Guest      *Guest      `json:"guest,omitempty"`
	Reason     string      `json:"reason,omitempty"`
}

// stageBuffer bounds the events waiting for one subscriber.
const stageBuffer = 64

// StageSubscription receives a room's stage events in order. A subscriber
// too slow to keep stageBuffer events is dropped: Events is closed, and it
// may subscribe again and read State.
type StageSubscription struct {
	st     *Stage
	room   string
	events chan StageEvent
}

// Events returns the events; it is closed when the subscription ends.
func (s *StageSubscription) Events() <-chan StageEvent { return s.events }

// Close ends the subscription; it is idempotent.
func (s *StageSubscription) Close() {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.dropLocked(s)
}

// Subscribe returns room's current stage and a subscription to its changes
// from then on.
func (st *Stage) Subscribe(room string) (StageState, *StageSubscription) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sub := &StageSubscription{st: st, room: room, events: make(chan StageEvent, stageBuffer)}
	if st.subs[room] == nil {
		st.subs[room] = map[*StageSubscription]struct{}{}
	}
	st.subs[room][sub] = struct{}{}
	return st.stateLocked(room), sub
}

func (st *Stage) dropLocked(s *StageSubscription) {
	subs := st.subs[s.room]
	if _, ok := subs[s]; !ok {
		return
	}
	delete(subs, s)
	close(s.events)
	if len(subs) == 0 {
		delete(st.subs, s.room)
	}
}

// publishLocked hands ev to room's subscribers without blocking, and forgets
// a room whose stage is empty.
func (st *Stage) publishLocked(room string, ev StageEvent) {
	ev.Room, ev.At = room, st.now().UTC().Truncate(time.Millisecond)
	if st.OnEvent != nil {
		st.OnEvent(ev)
	}
	for s := range st.subs[room] {
		select {
		case s.events <- ev:
		default:
			st.dropLocked(s)
		}
	}
	if r := st.rms[room]; r != nil && len(r.hands) == 0 && len(r.invites) == 0 && len(r.guests) == 0 && st.raisesSpentLocked(r) {
		delete(st.rms, room)
	}
}

// raisesSpentLocked reports whether forgetting r's raise limits frees no one
// early: every bucket has refilled.
func (st *Stage) raisesSpentLocked(r *stageRoom) bool {
	now := st.now()
	full := time.Duration(float64(st.cfg.RaiseBurst) / st.cfg.RaisesPerMinute * float64(time.Minute))
	for _, b := range r.raises {
		if now.Sub(b.at) < full {
			return false
		}
	}
	return true
}
