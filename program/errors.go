package program

import "errors"

// Errors of the programs. hls re-exports the ones its API callers map.
var (
	// ErrOffline: the room is neither live nor kept by its broadcast settings.
	ErrOffline = errors.New("program: the room is not live")
	// ErrTrackNotFound: the track to put on air is not in the room.
	ErrTrackNotFound = errors.New("program: no such track in the room")
	// ErrWrongKind: an audio track was chosen as video or the reverse.
	ErrWrongKind = errors.New("program: track is of the wrong kind")
	// ErrUnsupportedCodec: the track's codec cannot be broadcast (VP8, G.711...).
	ErrUnsupportedCodec = errors.New("program: codec cannot be broadcast")
	// ErrClosed: the program or the set is shutting down.
	ErrClosed = errors.New("program: closed")
)
