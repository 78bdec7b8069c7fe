package rooms

import (
	"errors"
	"time"
)

var (
	// ErrRoomNotFound: no stored room has the ID.
	ErrRoomNotFound = errors.New("rooms: room not found")
	// ErrTokenRevoked: the token's ID was revoked, or every token of its
	// identity in the room issued until a time (an admin's revocation, or the
	// member's deletion) was.
	ErrTokenRevoked = errors.New("rooms: token revoked")
	// ErrBanned: the token's identity is banned from the room for now.
	ErrBanned = errors.New("rooms: identity banned from the room")
	// ErrInvalidTier: a tier is not sd, hd, fhd or 4k.
	ErrInvalidTier = errors.New("rooms: invalid tier")
	// ErrTierAboveRoom: a member's tier is above its room's.
	ErrTierAboveRoom = errors.New("rooms: tier above the room's")
	// ErrInvalidMedia: a media policy or a member's extra sources are not
	// valid.
	ErrInvalidMedia = errors.New("rooms: invalid media policy")
	// ErrWrongStreamKey: the stream key is not the room's (or it has none).
	ErrWrongStreamKey = errors.New("rooms: wrong stream key")
	// ErrInvalidAPIKey: no stored API key matches.
	ErrInvalidAPIKey = errors.New("rooms: invalid API key")
)

// PIN joins (PINGuard, JoinByPIN).
var (
	// ErrWrongPIN: the PIN is neither of the room's.
	ErrWrongPIN = errors.New("rooms: wrong PIN")
	// ErrRoomLocked: a moderator locked the room against new PIN joins.
	ErrRoomLocked = errors.New("rooms: room locked")
	// ErrTooManyWrongPINs: the address sent too many wrong PINs for the room.
	ErrTooManyWrongPINs = errors.New("rooms: too many wrong PINs")
	// ErrPINChecksMetered: the room is under a PIN-guessing flood and its
	// PIN checks for now are used up.
	ErrPINChecksMetered = errors.New("rooms: PIN checks metered")
	// ErrTooManyJoins: the address made too many PIN joins.
	ErrTooManyJoins = errors.New("rooms: too many joins")
)

// The stage (Stage).
var (
	// ErrOnStage: the identity is invited or on stage already.
	ErrOnStage = errors.New("rooms: already invited or on stage")
	// ErrNoHand: the identity's hand is not raised.
	ErrNoHand = errors.New("rooms: hand not raised")
	// ErrNoInvitation: the identity has no invitation (or it expired).
	ErrNoInvitation = errors.New("rooms: no invitation")
	// ErrNotOnStage: the identity is not on stage.
	ErrNotOnStage = errors.New("rooms: not on stage")
	// ErrStageFull: as many guests are on stage or invited as allowed.
	ErrStageFull = errors.New("rooms: stage full")
	// ErrMemberCannotPublish: the identity is a member of the room whose
	// stored permissions lack publish, which would narrow its stage token.
	ErrMemberCannotPublish = errors.New("rooms: the member may not publish")
	// ErrNotModerator: only a moderator invites to the stage.
	ErrNotModerator = errors.New("rooms: only moderators invite")
	// ErrRaiseLimited: the identity raised its hand too often; see RaiseLimitError.
	ErrRaiseLimited = errors.New("rooms: raising hands too often")
)

// RaiseLimitError is a hand raise refused for now; it matches ErrRaiseLimited.
type RaiseLimitError struct{ RetryAfter time.Duration }

func (e *RaiseLimitError) Error() string {
	return ErrRaiseLimited.Error() + "; retry in " + e.RetryAfter.Round(time.Second).String()
}

// Is makes errors.Is(e, ErrRaiseLimited) hold.
func (e *RaiseLimitError) Is(target error) bool { return target == ErrRaiseLimited }
