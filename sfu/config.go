package sfu

import (
	"errors"
	"fmt"
	"net"
)

// Config is the media side's network configuration.
type Config struct {
	// UDPPort is the one UDP port that carries all WebRTC media (ICE UDP mux).
	// 0 lets the OS choose, for tests.
	UDPPort int
	// ListenIP is the address to bind; empty binds all interfaces.
	ListenIP string
	// PublicIPs are announced as host candidates instead of the interface
	// addresses, for a server behind 1:1 NAT (a cloud VM with a public IP).
	PublicIPs []string
	// Loopback also offers loopback candidates, for tests and same-host clients.
	Loopback bool
}

// Validate reports the first invalid field, naming its configuration key.
func (c Config) Validate() error {
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		return fmt.Errorf("webrtc_udp_port: %d is not a port number", c.UDPPort)
	}
	if c.ListenIP != "" && net.ParseIP(c.ListenIP) == nil {
		return fmt.Errorf("webrtc_listen_ip: %q is not an IP address", c.ListenIP)
	}
	for _, ip := range c.PublicIPs {
		if net.ParseIP(ip) == nil {
			return errors.New("webrtc_public_ips: " + ip + " is not an IP address")
		}
	}
	return nil
}
