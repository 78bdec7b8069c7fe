package api

import (
	"lectern/access"
	"lectern/chat"
	"lectern/sfu"
)

// liveSessions carries a change of a member's credentials to the sessions
// open now: their media participants and chat subscriptions.
type liveSessions struct {
	media *sfu.SFU
	chat  *chat.Hub
}

// setPermissions updates the participants of a room who joined as
// identity, and their chat subscriptions, so a change through the API takes
// effect at once.
func (l liveSessions) setPermissions(roomID, identity string, p access.Permissions) {
	l.chat.SetPermissions(roomID, identity, p)
	room, ok := l.media.LiveRoom(roomID)
	if !ok {
		return
	}
	for _, part := range room.Participants() {
		if part.Identity() == identity {
			part.SetPermissions(p)
		}
	}
}

// end closes the participants of a room who joined as identity and ends
// their chat subscriptions: their tokens no longer work there.
func (l liveSessions) end(roomID, identity, reason string) {
	l.chat.SetPermissions(roomID, identity, 0)
	room, ok := l.media.LiveRoom(roomID)
	if !ok {
		return
	}
	for _, part := range room.Participants() {
		if part.Identity() == identity {
			part.Close(reason)
		}
	}
}
