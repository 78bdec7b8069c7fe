package ingest

import (
	"fmt"
	"net"
	"time"
)

// Timeouts of RTSP connections when the configuration leaves them zero.
const (
	DefaultReadTimeout = 10 * time.Second
	DefaultIdleTimeout = 90 * time.Second
)

// Config is the RTSP server's configuration.
type Config struct {
	// Addr is the RTSP listen address (TCP), such as ":8554".
	Addr string
	// UDPPort is the RTP port for UDP transport; RTCP uses the next port. 0
	// turns UDP off (TCP-interleaved only).
	UDPPort int
	// ReadTimeout bounds a connection's first request, each request once its
	// first bytes came, an encoder's silence while recording, and each write.
	// Zero: DefaultReadTimeout.
	ReadTimeout time.Duration
	// IdleTimeout closes a connection that neither plays nor records and
	// sends no request for this long. Zero: DefaultIdleTimeout.
	IdleTimeout time.Duration
}

// withDefaults returns c with zero timeouts set to the defaults.
func (c Config) withDefaults() Config {
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	return c
}

// Validate reports the first invalid field, naming its configuration key.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("rtsp_addr: %q is not host:port", c.Addr)
	}
	if c.UDPPort < 0 || c.UDPPort > 65534 || c.UDPPort%2 != 0 {
		return fmt.Errorf("rtsp_udp_port: %d must be an even port number (RTCP takes the next one), or 0 for TCP only", c.UDPPort)
	}
	if c = c.withDefaults(); c.ReadTimeout < 0 || c.IdleTimeout < c.ReadTimeout {
		return fmt.Errorf("rtsp_idle_timeout: %v must be at least rtsp_read_timeout (%v), both positive", c.IdleTimeout, c.ReadTimeout)
	}
	return nil
}
