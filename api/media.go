package api

import (
	"lectern/access"
)

// applyLivePermissions updates the participants of a room who joined as
// identity, and their chat subscriptions, so a change through the API takes
// effect at once.
func (s *Server) applyLivePermissions(roomID, identity string, p access.Permissions) {
	s.chat.SetPermissions(roomID, identity, p)
	room, ok := s.media.LiveRoom(roomID)
	if !ok {
		return
	}
	for _, part := range room.Participants() {
		if part.Identity() == identity {
			part.SetPermissions(p)
		}
	}
}

// endLive closes the participants of a room who joined as identity and ends
// their chat subscriptions: their tokens no longer work there.
func (s *Server) endLive(roomID, identity, reason string) {
	s.chat.SetPermissions(roomID, identity, 0)
	room, ok := s.media.LiveRoom(roomID)
	if !ok {
		return
	}
	for _, part := range room.Participants() {
		if part.Identity() == identity {
			part.Close(reason)
		}
	}
}
