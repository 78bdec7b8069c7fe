package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"lectern/relay"
)

// turnConfig is the embedded TURN server (package relay). It is off until
// turn_public_ip names the address clients reach this host on: a relay whose
// address clients cannot reach helps nobody, and a newcomer on localhost needs none.
type turnConfig struct {
	PublicIP   string `yaml:"turn_public_ip"`
	UDPAddr    string `yaml:"turn_udp_addr"`
	TCPAddr    string `yaml:"turn_tcp_addr"`
	TLSAddr    string `yaml:"turn_tls_addr"`
	Realm      string `yaml:"turn_realm"`
	RelayPorts string `yaml:"turn_relay_ports"`
	// MaxAllocations is the per-identity relay limit (0: the relay's default).
	MaxAllocations int `yaml:"turn_max_allocations"`
}

func defaultTURNConfig() turnConfig {
	return turnConfig{UDPAddr: ":3478", TCPAddr: ":3478", TLSAddr: ":5349"}
}

// off reads "off" (and empty, from YAML) as no listener.
func off(addr string) bool { return addr == "" || strings.EqualFold(addr, "off") }

// listenAddr is addr, or "" when it is off.
func listenAddr(addr string) string {
	if off(addr) {
		return ""
	}
	return addr
}

func init() {
	settings = append(settings,
		setting{"turn_public_ip", "LECTERN_TURN_PUBLIC_IP", "turn-public-ip", "IP clients reach this host on; setting it turns the embedded TURN server on", str(func(c *config) *string { return &c.TURN.PublicIP })},
		setting{"turn_udp_addr", "LECTERN_TURN_UDP_ADDR", "turn-udp-addr", "TURN over UDP listen address (default :3478; off = none)", str(func(c *config) *string { return &c.TURN.UDPAddr })},
		setting{"turn_tcp_addr", "LECTERN_TURN_TCP_ADDR", "turn-tcp-addr", "TURN over TCP listen address (default :3478; off = none)", str(func(c *config) *string { return &c.TURN.TCPAddr })},
		setting{"turn_tls_addr", "LECTERN_TURN_TLS_ADDR", "turn-tls-addr", "TURN over TLS listen address when serving HTTPS (default :5349; off = none)", str(func(c *config) *string { return &c.TURN.TLSAddr })},
		setting{"turn_realm", "LECTERN_TURN_REALM", "turn-realm", "TURN realm (empty: the public URL's host)", str(func(c *config) *string { return &c.TURN.Realm })},
		setting{"turn_relay_ports", "LECTERN_TURN_RELAY_PORTS", "turn-relay-ports", "UDP port range for relayed addresses, like 49152-65535 (empty: any)", str(func(c *config) *string { return &c.TURN.RelayPorts })},
		setting{"turn_max_allocations", "LECTERN_TURN_MAX_ALLOCATIONS", "turn-max-allocations", fmt.Sprintf("relays one identity may hold at once (default %d)", relay.DefaultMaxAllocations), func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("%q is not a positive number", v)
			}
			c.TURN.MaxAllocations = n
			return nil
		}},
	)
}

// validate reports the first invalid TURN value, naming its key.
func (t turnConfig) validate() error {
	if t.PublicIP == "" {
		return nil
	}
	if !off(t.TLSAddr) {
		if _, port, err := net.SplitHostPort(t.TLSAddr); err != nil || port == "" {
			return fmt.Errorf("turn_tls_addr: %q is not host:port (for example :5349) or off", t.TLSAddr)
		}
	}
	return t.relayConfig().Validate()
}

// relayConfig is the relay package's view of these settings, without TLS.
func (t turnConfig) relayConfig() relay.Config {
	return relay.Config{UDPAddr: listenAddr(t.UDPAddr), TCPAddr: listenAddr(t.TCPAddr),
		PublicIP: t.PublicIP, Realm: t.Realm, RelayPorts: t.RelayPorts, MaxAllocations: t.MaxAllocations}
}
