package sfu

import "errors"

// Errors returned to signaling. The API maps each to a stable code.
var (
	ErrClosed              = errors.New("sfu: participant is closed")
	ErrNoPublish           = errors.New("sfu: publishing is not permitted")
	ErrNoSubscribe         = errors.New("sfu: subscribing is not permitted")
	ErrNoModerate          = errors.New("sfu: moderation is not permitted")
	ErrBadSDP              = errors.New("sfu: invalid session description")
	ErrUnsupportedCodecs   = errors.New("sfu: no supported codec offered")
	ErrTrackNotFound       = errors.New("sfu: no such track")
	ErrParticipantNotFound = errors.New("sfu: no such participant")
	ErrBadLayer            = errors.New("sfu: no such layer")
	ErrBadSource           = errors.New("sfu: unknown track source")
	ErrNegotiation         = errors.New("sfu: negotiation failed")
	ErrNotWebRTC           = errors.New("sfu: track cannot be sent over WebRTC")
	ErrRefusedByPolicy     = errors.New("sfu: the room's media policy refuses this")
)
