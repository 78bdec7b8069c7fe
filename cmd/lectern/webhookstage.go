package main

import (
	"lectern/rooms"
	"lectern/webhook"
)

// stageHook returns the hook that turns the stage's changes into
// stage_changed events, nil without webhooks.
func (w *webhooks) stageHook() func(rooms.StageEvent) {
	if w == nil {
		return nil
	}
	return func(ev rooms.StageEvent) {
		// The stage calls in order under its own lock; mu keeps a room's
		// events in that order among its others.
		w.mu.Lock()
		defer w.mu.Unlock()
		w.emit(stageEvent(ev))
	}
}

// stageEvent is the webhook event of a stage change.
func stageEvent(ev rooms.StageEvent) webhook.Event {
	s := &webhook.Stage{Event: ev.Type, Identity: ev.Identity, Reason: ev.Reason}
	switch {
	case ev.Hand != nil:
		s.Name = ev.Hand.Name
	case ev.Invitation != nil:
		s.Name, s.Permissions, s.Tier, s.InvitedBy = ev.Invitation.Name, ev.Invitation.Permissions.String(), string(ev.Invitation.Tier), ev.Invitation.InvitedBy
	case ev.Guest != nil:
		s.Name, s.Permissions, s.Tier = ev.Guest.Name, ev.Guest.Permissions.String(), string(ev.Guest.Tier)
	}
	return webhook.Event{Type: webhook.StageChanged, Room: ev.Room, CreatedAt: ev.At, Stage: s}
}
