package storage

import "errors"

// ErrNotFound is returned when the row asked for, or the room it belongs to,
// does not exist.
var ErrNotFound = errors.New("storage: not found")

// ErrConflict is returned when a row with the same key (or another unique
// value, such as an API key's hash) already exists.
var ErrConflict = errors.New("storage: already exists")

// ErrWrongState is returned when a row is not in a state the change needs,
// such as a chat message that is already deleted.
var ErrWrongState = errors.New("storage: not in a state that allows the change")

// ErrNotSupported is returned for what the backend cannot do, such as
// listening for other processes' chat changes on SQLite.
var ErrNotSupported = errors.New("storage: not supported by this backend")
