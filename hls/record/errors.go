package record

import "errors"

// Errors of the recorder. The API maps each to an HTTP status and a code.
var (
	// ErrNotFound: no such recording (or file of one).
	ErrNotFound = errors.New("record: no such recording")
	// ErrActive: the recording is still being written; turn recording off first.
	ErrActive = errors.New("record: the recording is still being written")
	// ErrStore: the object store did not answer; try again.
	ErrStore = errors.New("record: object store unavailable")
	// ErrClosed: the recorder is shutting down.
	ErrClosed = errors.New("record: closed")
)
