package record

import (
	"errors"
	"time"

	"lectern/hls"
)

// Config is the recorder's configuration.
type Config struct {
	// SpoolDir holds recordings on local disk until they are uploaded
	// (one directory per recording); it must survive restarts.
	SpoolDir string
	// Segments sets the recordings' part and segment lengths (the parts
	// are fragments inside each segment file).
	Segments hls.Config
	// RetryMin and RetryMax bound the exponential backoff between upload
	// attempts; uploads are retried until they succeed or shutdown ends.
	RetryMin, RetryMax time.Duration
	// AttemptTimeout bounds one upload attempt.
	AttemptTimeout time.Duration
	// PlaybackTTL is how long a playback URL from the API works.
	PlaybackTTL time.Duration
	// PresignTTL is how long the presigned S3 URL that a media request is
	// redirected to works: it is used at once.
	PresignTTL time.Duration

	// NodeID names this node in a cluster ("" without one: recordings are
	// then never taken over). A recording whose node is dead (no
	// heartbeat for DeadAfter) is taken over by a surviving node: the node
	// where its room's broadcast resumes within AdoptWindow of the last
	// media that reached the store continues it in a new part; once
	// AdoptWindow has passed without that, any node finishes it from what
	// reached the store (docs/hls.md, "Recordings across a node loss").
	NodeID      string
	DeadAfter   time.Duration
	AdoptWindow time.Duration
}

// DefaultConfig returns the defaults, spooling under spoolDir.
func DefaultConfig(spoolDir string) Config {
	seg := hls.DefaultConfig()
	seg.PartDuration, seg.SegmentDuration = time.Second, 2*time.Second
	return Config{
		SpoolDir:       spoolDir,
		Segments:       seg,
		RetryMin:       250 * time.Millisecond,
		RetryMax:       15 * time.Second,
		AttemptTimeout: time.Minute,
		PlaybackTTL:    6 * time.Hour,
		PresignTTL:     10 * time.Minute,
		AdoptWindow:    time.Minute,
	}
}

// Validate reports the first invalid field, naming its configuration key.
func (c Config) Validate() error {
	if err := c.Segments.Validate(); err != nil {
		return err
	}
	switch {
	case c.SpoolDir == "":
		return errors.New("record_spool_dir: must not be empty")
	case c.RetryMin <= 0 || c.RetryMax < c.RetryMin:
		return errors.New("record_retry: RetryMin must be positive and at most RetryMax")
	case c.AttemptTimeout <= 0:
		return errors.New("record_attempt_timeout: must be positive")
	case c.PlaybackTTL < time.Minute || c.PresignTTL < time.Minute:
		return errors.New("record_playback_ttl: playback and presign TTLs must be at least 1m")
	case c.NodeID != "" && (c.DeadAfter <= 0 || c.AdoptWindow <= 0):
		return errors.New("recording_resume_window: in a cluster, the dead-after period and the resume window must be positive")
	}
	return nil
}
