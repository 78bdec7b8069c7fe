package rooms

import (
	"crypto/subtle"
	"fmt"

	"lectern/access"
	"lectern/storage"
)

// Room modes.
const (
	ModeConference = "conference"
	ModeWebinar    = "webinar"
)

// DefaultPermissions is what a member of a room in mode gets when nobody said
// otherwise.
func DefaultPermissions(mode string) access.Permissions {
	if mode == ModeWebinar {
		return access.Viewer
	}
	return access.Member
}

// PINPermissions returns the permissions that pin opens in r, comparing in
// constant time, and whether it matched at all.
func PINPermissions(r storage.Room, pin string) (access.Permissions, bool) {
	speaker := subtle.ConstantTimeCompare([]byte(pin), []byte(r.SpeakerPIN)) == 1
	audience := subtle.ConstantTimeCompare([]byte(pin), []byte(r.PIN)) == 1
	switch {
	case speaker:
		// The speaker PIN is the host's, in a webinar as in a conference: it
		// publishes and moderates (goes on air, records, mutes, removes).
		// Co-presenters who should not moderate get a token with the
		// speaker preset instead.
		return access.Host, true
	case audience && r.Mode == ModeWebinar && r.ChatQuestions:
		// The room takes questions: its audience may post (as questions).
		return access.Viewer | access.Send, true
	case audience:
		return DefaultPermissions(r.Mode), true
	}
	return 0, false
}

// PINGrant is the grant a guest who gave pin gets in r, and whether the PIN
// matched.
func PINGrant(r storage.Room, pin string) (access.Grant, bool) {
	p, ok := PINPermissions(r, pin)
	if !ok {
		return access.Grant{}, false
	}
	return access.Grant{Permissions: p, Tier: EffectiveTier(r, "")}, true
}

// JoinByPIN is the grant a guest who gave pin gets in r: ErrRoomLocked if a
// moderator locked the room against PIN joins (the PIN is not even
// compared), ErrWrongPIN if it is neither of the room's.
func JoinByPIN(r storage.Room, pin string) (access.Grant, error) {
	if r.Locked {
		return access.Grant{}, ErrRoomLocked
	}
	g, ok := PINGrant(r, pin)
	if !ok {
		return access.Grant{}, ErrWrongPIN
	}
	return g, nil
}

// EffectiveTier is a member's tier capped by the room's; "" means the room's.
func EffectiveTier(r storage.Room, memberTier string) access.Tier {
	room := access.Tier(r.Tier)
	t := access.Tier(memberTier)
	if t == "" || t.Exceeds(room) {
		return room
	}
	return t
}

// CheckTier validates a member's tier override against r's ceiling: "" (the
// room's) or a tier no higher than the room's. Errors wrap ErrInvalidTier or
// ErrTierAboveRoom.
func CheckTier(r storage.Room, tier string) error {
	if tier == "" {
		return nil
	}
	t, err := access.ParseTier(tier)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrInvalidTier, tier)
	}
	if t.Exceeds(access.Tier(r.Tier)) {
		return fmt.Errorf("%w: %s is above %s", ErrTierAboveRoom, t, r.Tier)
	}
	return nil
}
