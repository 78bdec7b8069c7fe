package storage

import "errors"

// ErrNotFound is returned when the row asked for, or the room it belongs to,
// does not exist.
var ErrNotFound = errors.New("storage: not found")

// ErrConflict is returned when a row with the same key (or another unique
// value, such as an API key's hash) already exists.
var ErrConflict = errors.New("storage: already exists")
