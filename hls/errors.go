package hls

import "errors"

// Errors of the HLS service. The API maps each to an HTTP status and a code.
var (
	// ErrOffline: the room has nothing on air (or HLS is off).
	ErrOffline = errors.New("hls: the room is not broadcasting")
	// ErrStarting: the broadcast has begun but no segment is complete yet.
	ErrStarting = errors.New("hls: the broadcast is starting")
	// ErrSession: the session in the URI is malformed, forged or expired.
	ErrSession = errors.New("hls: invalid or expired session")
	// ErrNotFound: no such playlist, segment or part.
	ErrNotFound = errors.New("hls: no such resource")
	// ErrBadRequest: a delivery directive is malformed or asks too far ahead.
	ErrBadRequest = errors.New("hls: bad request")
	// ErrUnavailable: a blocking request was not satisfied in time (RFC 8216bis
	// section 6.2.5.2).
	ErrUnavailable = errors.New("hls: not available in time")
	// ErrTrackNotFound: the track to put on air is not in the room.
	ErrTrackNotFound = errors.New("hls: no such track in the room")
	// ErrWrongKind: an audio track was chosen as video or the reverse.
	ErrWrongKind = errors.New("hls: track is of the wrong kind")
	// ErrUnsupportedCodec: the track's codec cannot be broadcast (VP8, G.711...).
	ErrUnsupportedCodec = errors.New("hls: codec cannot be broadcast")
	// ErrClosed: the service is shutting down.
	ErrClosed = errors.New("hls: closed")
)
