package hls

import (
	"errors"
	"math"
	"net/url"
	"strings"
	"time"
)

// Config is the LL-HLS muxer's configuration.
type Config struct {
	// PartDuration is the Part Target Duration (EXT-X-PART-INF PART-TARGET,
	// RFC 8216bis section 4.4.3.7): no part is longer. About 200 ms.
	PartDuration time.Duration
	// SegmentDuration is the segment length the muxer aims for: it asks the
	// publisher for a keyframe in time to cut there. 1 to 2 s.
	SegmentDuration time.Duration
	// SessionTTL is how long the signed session in playlist URIs is valid
	// (never longer than the viewer's access token).
	SessionTTL time.Duration
	// CDNURL, when set, is the base URL of a CDN (or of the bucket itself)
	// in front of the object store's root: the media are published to the
	// store under MirrorPrefix and the media playlists name them there (see
	// Service.UseCDN). Empty serves everything from memory.
	CDNURL string
}

// DefaultConfig returns the defaults a newcomer gets.
func DefaultConfig() Config {
	return Config{
		PartDuration:    200 * time.Millisecond,
		SegmentDuration: time.Second,
		SessionTTL:      4 * time.Hour,
	}
}

// Validate reports the first invalid field, naming its configuration key.
func (c Config) Validate() error {
	switch {
	case c.PartDuration < 100*time.Millisecond || c.PartDuration > time.Second:
		return errors.New("hls_part_duration: must be between 100ms and 1s")
	case c.SegmentDuration < 2*c.PartDuration || c.SegmentDuration > 6*time.Second:
		return errors.New("hls_segment_duration: must be at least two parts and at most 6s")
	case c.SessionTTL < time.Minute:
		return errors.New("hls_session_ttl: must be at least 1m")
	}
	if c.CDNURL != "" {
		u, err := url.Parse(c.CDNURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" ||
			strings.HasSuffix(c.CDNURL, "/") {
			return errors.New("hls_cdn_url: must be an http(s) URL without a query or a trailing slash, such as https://cdn.example.com")
		}
	}
	return nil
}

// targetDuration is EXT-X-TARGETDURATION in seconds (RFC 8216bis section
// 4.4.3.1). It leaves room for a keyframe that comes late: segments are cut at
// the first keyframe after SegmentDuration and forced at the target.
func (c Config) targetDuration() int {
	return int(math.Ceil((c.SegmentDuration * 3 / 2).Seconds()))
}
