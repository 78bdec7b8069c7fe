// Package usage keeps Lectern's accounting: per app and month, the active
// identities, participant-minutes, HLS viewer-minutes and peak concurrent
// audience (with recordings' minutes and bytes from the recordings table);
// and per room session, an attendance report of who was there, when, for
// how long, and what they asked.
//
// A Tracker hears participants join and leave (the API hands it the SFU's
// events) and HLS viewers load playlists, keeps all of it in memory, and
// writes it to the database in batches (Flush, every FlushInterval in Run):
// nothing on the media path touches the database. Several nodes on one
// PostgreSQL each write their own rows, and the reports add them up.
package usage

import (
	"errors"
	"time"

	"lectern/storage"
)

// DefaultApp is the app of an installation's rooms made before apps.
const DefaultApp = storage.DefaultApp

// AppOf returns the app a room belongs to, from its key (storage.RoomKey).
func AppOf(room string) string { return storage.KeyApp(room) }

// Config is the accounting's configuration.
type Config struct {
	// Node names this node's rows (several nodes share one database).
	Node string
	// FlushInterval is how often the counts go to the database.
	FlushInterval time.Duration
	// ViewerIdle ends an HLS viewer's session when it has loaded no media
	// playlist for this long; its time is the span of its requests.
	ViewerIdle time.Duration
	// SessionGap is how long a room must stand empty for its session to
	// end: someone back within it (a page reload) continues the session.
	SessionGap time.Duration
	// Retention is how long attendance reports (and the identities behind
	// the monthly active count) are kept after their session ends.
	Retention time.Duration
	// PruneInterval is how often reports past Retention are deleted.
	PruneInterval time.Duration
	// Now is the clock (tests inject one). Nil: time.Now.
	Now func() time.Time
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		FlushInterval: 5 * time.Second,
		ViewerIdle:    15 * time.Second,
		SessionGap:    30 * time.Second,
		Retention:     365 * 24 * time.Hour,
		PruneInterval: time.Hour,
	}
}

// Validate reports the first invalid field, naming its configuration key.
func (c Config) Validate() error {
	switch {
	case c.FlushInterval < 100*time.Millisecond:
		return errors.New("usage_flush_interval: must be at least 100ms")
	case c.ViewerIdle < time.Second:
		return errors.New("usage_viewer_idle: must be at least 1s")
	case c.SessionGap < 0:
		return errors.New("attendance_session_gap: must not be negative")
	case c.Retention < 24*time.Hour:
		return errors.New("attendance_retention: must be at least 24h")
	case c.PruneInterval < time.Second:
		return errors.New("attendance_prune_interval: must be at least 1s")
	}
	return nil
}
