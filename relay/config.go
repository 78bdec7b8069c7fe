package relay

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Config says where the TURN server listens and what it tells clients.
type Config struct {
	// UDPAddr, TCPAddr and TLSAddr are the listen addresses (host:port) of TURN
	// over UDP, TCP and TLS (RFC 8656 section 3.1). Empty: no such listener.
	// TLSAddr is used only when TLS is set.
	UDPAddr, TCPAddr, TLSAddr string
	// TLS is the certificate configuration for TURN over TLS (turns: URLs).
	TLS *tls.Config
	// PublicIP is the address clients reach this host on: it is the relayed
	// transport address of every allocation and the host of turn: and stun: URLs.
	PublicIP string
	// TLSHost is the host name in turns: URLs, the one the certificate names.
	// Empty: PublicIP.
	TLSHost string
	// Realm is the TURN realm (RFC 8489 section 9.2). Empty: TLSHost or PublicIP.
	Realm string
	// RelayPorts limits relayed transport addresses to a port range such as
	// "49152-65535", for firewalls. Empty: any port the OS chooses.
	RelayPorts string
	// PeerIPs are the peers, besides this host's own addresses, that clients may
	// relay to. The server relays to this host (its WebRTC media) only, so a
	// credential is no key to the rest of the network.
	PeerIPs []net.IP
	// MaxAllocations is how many relays one identity may hold at once (a
	// browser in a call needs two to four). Zero: DefaultMaxAllocations.
	MaxAllocations int
}

// DefaultMaxAllocations is the per-identity allocation limit when none is set.
const DefaultMaxAllocations = 10

// maxAllocations is the configured limit or the default.
func (c Config) maxAllocations() int {
	if c.MaxAllocations == 0 {
		return DefaultMaxAllocations
	}
	return c.MaxAllocations
}

// Validate reports the first invalid field, naming its configuration key.
func (c Config) Validate() error {
	if ip := net.ParseIP(c.PublicIP); ip == nil || ip.IsUnspecified() {
		return fmt.Errorf("turn_public_ip: %q is not an IP address clients can reach", c.PublicIP)
	}
	addrs := map[string]string{"turn_udp_addr": c.UDPAddr, "turn_tcp_addr": c.TCPAddr}
	if c.TLS != nil {
		addrs["turn_tls_addr"] = c.TLSAddr
	}
	listeners := 0
	for key, addr := range addrs {
		if addr == "" {
			continue
		}
		listeners++
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			return fmt.Errorf("%s: %q is not host:port (for example :3478) or off", key, addr)
		}
	}
	if listeners == 0 {
		return errors.New("turn_udp_addr, turn_tcp_addr: at least one is needed when TURN is on")
	}
	if c.MaxAllocations < 0 {
		return fmt.Errorf("turn_max_allocations: %d is negative", c.MaxAllocations)
	}
	if _, _, err := c.relayPorts(); err != nil {
		return err
	}
	return nil
}

// relayPorts parses RelayPorts; 0, 0 means any port.
func (c Config) relayPorts() (lo, hi uint16, err error) {
	if c.RelayPorts == "" {
		return 0, 0, nil
	}
	bad := fmt.Errorf("turn_relay_ports: %q is not a port range like 49152-65535", c.RelayPorts)
	a, b, ok := strings.Cut(c.RelayPorts, "-")
	if !ok {
		return 0, 0, bad
	}
	l, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	h, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	if err1 != nil || err2 != nil || l == 0 || h < l {
		return 0, 0, bad
	}
	return uint16(l), uint16(h), nil
}

// realm is the configured realm or the host clients know the server by.
func (c Config) realm() string {
	switch {
	case c.Realm != "":
		return c.Realm
	case c.TLSHost != "":
		return c.TLSHost
	}
	return c.PublicIP
}
