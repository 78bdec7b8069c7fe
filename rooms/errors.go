package rooms

import "errors"

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
