package chat

import (
	"lectern/access"
	"lectern/storage"
)

// Viewer is who reads or acts in a room's chat.
type Viewer struct {
	// Identity and Name are the token's; an operator has neither.
	Identity string
	Name     string
	// Permissions are the token's grant in the room.
	Permissions access.Permissions
	// Operator is an API key holder: it sees every message, direct ones
	// included, and may moderate, but cannot post.
	Operator bool
}

// staff reports whether v speaks or moderates: sees pending questions and,
// in webinars, posts messages rather than questions.
func (v Viewer) staff() bool {
	return v.Operator || v.Permissions.Has(access.Publish) || v.Permissions.Has(access.Moderate)
}

// moderates reports whether v may moderate, which also exempts it from slow
// mode.
func (v Viewer) moderates() bool { return v.Operator || v.Permissions.Has(access.Moderate) }

func (v Viewer) filter() storage.MessageFilter {
	return storage.MessageFilter{All: v.Operator, Identity: v.Identity, Pending: v.staff()}
}

// Visible reports whether v may see m: a direct message only by its sender
// and recipient, a pending question only by its asker and by speakers and
// moderators, everything else by everyone with receive. Tombstones follow the
// message they replace. storage's MessageFilter says the same in SQL.
func Visible(m storage.Message, v Viewer) bool {
	if v.Operator {
		return true
	}
	if m.Recipient != "" && m.Sender != v.Identity && m.Recipient != v.Identity {
		return false
	}
	if m.State == storage.StatePending && m.Sender != v.Identity && !v.staff() {
		return false
	}
	return true
}
