package ingest

import (
	"fmt"
	"net"
)

// Config is the RTSP server's configuration.
type Config struct {
	// Addr is the RTSP listen address (TCP), such as ":8554".
	Addr string
	// UDPPort is the RTP port for UDP transport; RTCP uses the next port. 0
	// turns UDP off (TCP-interleaved only).
	UDPPort int
}

// Validate reports the first invalid field, naming its configuration key.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("rtsp_addr: %q is not host:port", c.Addr)
	}
	if c.UDPPort < 0 || c.UDPPort > 65534 || c.UDPPort%2 != 0 {
		return fmt.Errorf("rtsp_udp_port: %d must be an even port number (RTCP takes the next one), or 0 for TCP only", c.UDPPort)
	}
	return nil
}
