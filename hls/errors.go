package hls

import (
	"errors"

	"lectern/program"
)

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
	// ErrTrackNotFound, ErrWrongKind and ErrUnsupportedCodec are the
	// program's answers to an on-air choice (SetOnAir).
	ErrTrackNotFound    = program.ErrTrackNotFound
	ErrWrongKind        = program.ErrWrongKind
	ErrUnsupportedCodec = program.ErrUnsupportedCodec
	// ErrClosed: the service is shutting down.
	ErrClosed = errors.New("hls: closed")
)
