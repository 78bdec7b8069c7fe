package ingest

import "errors"

// Errors of the RTSP server.
var (
	ErrNoCredentials  = errors.New("ingest: no credentials")
	ErrBadCredentials = errors.New("ingest: credentials not accepted")
	ErrNotPermitted   = errors.New("ingest: the credentials do not allow this")
	ErrUnsupported    = errors.New("ingest: no supported codec")
	ErrNoProgram      = errors.New("ingest: nothing is on air in this room")
	ErrBadPath        = errors.New("ingest: the path is not a room")
	ErrRoomNotFound   = errors.New("ingest: no such room")
)
