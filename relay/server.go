// Package relay is Lectern's embedded TURN server (RFC 8656), for clients whose
// NAT or firewall lets no media through directly. Clients get time-limited
// credentials derived from their access tokens (Credential); the server relays
// only to this host's own addresses, where the SFU listens.
package relay

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/turn/v5"
)

// Server is the TURN server. New opens its sockets; Run serves until its
// context ends. Its fields are set by New and only read afterwards, except
// running, which Run sets.
type Server struct {
	cfg    Config
	secret []byte
	log    *slog.Logger
	peers  map[string]bool // IPs clients may relay to, by String()

	udp      net.PacketConn
	tcp, tls net.Listener
	running  atomic.Pointer[turn.Server]

	// held counts each identity's live allocations, for MaxAllocations.
	heldMu sync.Mutex
	held   map[string]int
}

// ICEServer is one entry of a WebRTC configuration's iceServers (W3C
// RTCIceServer): URLs and, for TURN, the credential.
type ICEServer struct {
	URLs       []string
	Username   string
	Credential string
}

// New opens the listeners named in cfg. secret signs the credentials; every node
// sharing a database should use the same one.
func New(cfg Config, secret []byte, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(secret) < 16 {
		return nil, fmt.Errorf("relay: secret of %d bytes is too short", len(secret))
	}
	s := &Server{cfg: cfg, secret: secret, log: log, peers: map[string]bool{}, held: map[string]int{}}
	if err := s.collectPeers(); err != nil {
		return nil, err
	}
	var err error
	if cfg.UDPAddr != "" {
		if s.udp, err = net.ListenPacket("udp", cfg.UDPAddr); err != nil {
			return nil, fmt.Errorf("turn_udp_addr: %w", err)
		}
	}
	if cfg.TCPAddr != "" {
		if s.tcp, err = net.Listen("tcp", cfg.TCPAddr); err != nil {
			s.closeSockets()
			return nil, fmt.Errorf("turn_tcp_addr: %w", err)
		}
	}
	if cfg.TLS != nil && cfg.TLSAddr != "" {
		ln, err := net.Listen("tcp", cfg.TLSAddr)
		if err != nil {
			s.closeSockets()
			return nil, fmt.Errorf("turn_tls_addr: %w", err)
		}
		s.tls = tls.NewListener(ln, cfg.TLS)
	}
	return s, nil
}

// collectPeers lists this host's addresses: the only peers the relay serves.
func (s *Server) collectPeers() error {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("relay: list interface addresses: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			s.peers[n.IP.String()] = true
		}
	}
	s.peers[net.ParseIP(s.cfg.PublicIP).String()] = true
	for _, ip := range s.cfg.PeerIPs {
		s.peers[ip.String()] = true
	}
	return nil
}

func (s *Server) closeSockets() {
	for _, c := range []interface{ Close() error }{s.udp, s.tcp, s.tls} {
		if c != nil {
			c.Close()
		}
	}
}

// Run serves TURN until ctx ends, then closes every socket and allocation.
// Call it once for every Server New returned, or its sockets stay open.
func (s *Server) Run(ctx context.Context) error {
	lo, hi, _ := s.cfg.relayPorts()
	public := net.ParseIP(s.cfg.PublicIP)
	bind := "0.0.0.0"
	switch {
	case public.IsLoopback():
		bind = public.String()
	case public.To4() == nil:
		bind = "::"
	}
	gen := func() turn.RelayAddressGenerator {
		if lo != 0 {
			return &turn.RelayAddressGeneratorPortRange{RelayAddress: public, Address: bind, MinPort: lo, MaxPort: hi}
		}
		return &turn.RelayAddressGeneratorStatic{RelayAddress: public, Address: bind}
	}
	tc := turn.ServerConfig{
		Realm:        s.cfg.realm(),
		AuthHandler:  s.authenticate,
		QuotaHandler: s.quota,
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(_, _ net.Addr, _, user, _ string, _ net.Addr, _ int) { s.hold(user, 1) },
			OnAllocationDeleted: func(_, _ net.Addr, _, user, _ string) { s.hold(user, -1) },
		},
		LoggerFactory: slogFactory{s.log},
	}
	if s.udp != nil {
		tc.PacketConnConfigs = append(tc.PacketConnConfigs, turn.PacketConnConfig{PacketConn: s.udp,
			RelayAddressGenerator: gen(), PermissionHandler: s.permit})
	}
	for _, ln := range []net.Listener{s.tcp, s.tls} {
		if ln != nil {
			tc.ListenerConfigs = append(tc.ListenerConfigs, turn.ListenerConfig{Listener: ln,
				RelayAddressGenerator: gen(), PermissionHandler: s.permit})
		}
	}
	srv, err := turn.NewServer(tc)
	if err != nil {
		s.closeSockets()
		return fmt.Errorf("relay: %w", err)
	}
	s.running.Store(srv)
	defer s.running.Store(nil)
	s.log.Info("turn server started", "urls", s.URLs(), "relay_ip", s.cfg.PublicIP, "realm", tc.Realm)
	<-ctx.Done()
	err = srv.Close()
	s.log.Info("turn server stopped")
	if err != nil {
		return fmt.Errorf("relay: close: %w", err)
	}
	return nil
}

// authenticate checks a TURN REST credential (see Credential) and returns the
// long-term key of RFC 8489 section 9.2.2. The password is never logged.
func (s *Server) authenticate(ra *turn.RequestAttributes) (string, []byte, bool) {
	until, identity, ok := parseUsername(ra.Username)
	if !ok {
		s.log.Debug("turn credential refused: malformed username", "client", ra.SrcAddr.String())
		return "", nil, false
	}
	if time.Now().After(until) {
		s.log.Debug("turn credential refused: expired", "identity", identity, "client", ra.SrcAddr.String())
		return "", nil, false
	}
	password := credentialPassword(s.secret, ra.Username)
	return identity, turn.GenerateAuthKey(ra.Username, ra.Realm, password), true
}

// permit lets clients relay to this host's addresses only.
func (s *Server) permit(client net.Addr, peer net.IP) bool {
	if s.peers[peer.String()] {
		return true
	}
	s.log.Debug("turn permission refused: peer is not this host", "client", client.String(), "peer", peer.String())
	return false
}

// ICEServers returns what a client needs to use this server until the given
// time: a STUN URL and the TURN URLs with a credential for identity.
func (s *Server) ICEServers(identity string, until time.Time) []ICEServer {
	user, pass := Credential(s.secret, identity, until)
	urls := s.URLs()
	var out []ICEServer
	if s.udp != nil {
		out = append(out, ICEServer{URLs: []string{"stun:" + net.JoinHostPort(s.cfg.PublicIP, port(s.udp.LocalAddr()))}})
	}
	return append(out, ICEServer{URLs: urls, Username: user, Credential: pass})
}

// URLs are the TURN URLs (RFC 7065) of every listener, with the ports bound.
func (s *Server) URLs() []string {
	var urls []string
	if s.udp != nil {
		urls = append(urls, "turn:"+net.JoinHostPort(s.cfg.PublicIP, port(s.udp.LocalAddr()))+"?transport=udp")
	}
	if s.tcp != nil {
		urls = append(urls, "turn:"+net.JoinHostPort(s.cfg.PublicIP, port(s.tcp.Addr()))+"?transport=tcp")
	}
	if s.tls != nil {
		name := s.cfg.TLSHost
		if name == "" {
			name = s.cfg.PublicIP
		}
		urls = append(urls, "turns:"+net.JoinHostPort(name, port(s.tls.Addr()))+"?transport=tcp")
	}
	return urls
}

// quota lets an identity allocate while it holds fewer relays than the
// limit, so that one leaked or hostile credential cannot take every port.
// Concurrent requests may pass it together and overshoot by a few. The user
// ID pion passes is the identity authenticate returned.
func (s *Server) quota(identity, _ string, src net.Addr) bool {
	s.heldMu.Lock()
	n := s.held[identity]
	s.heldMu.Unlock()
	if n >= s.cfg.maxAllocations() {
		s.log.Warn("turn allocation refused: quota reached", "identity", identity, "allocations", n, "client", src.String())
		return false
	}
	return true
}

// hold counts an allocation made (+1) or removed (-1) by identity.
func (s *Server) hold(identity string, delta int) {
	s.heldMu.Lock()
	defer s.heldMu.Unlock()
	if s.held[identity] += delta; s.held[identity] <= 0 {
		delete(s.held, identity)
	}
}

// Allocations returns how many relay allocations are live (0 outside Run).
func (s *Server) Allocations() int {
	if srv := s.running.Load(); srv != nil {
		return srv.AllocationCount()
	}
	return 0
}

func port(a net.Addr) string {
	switch a := a.(type) {
	case *net.UDPAddr:
		return strconv.Itoa(a.Port)
	case *net.TCPAddr:
		return strconv.Itoa(a.Port)
	}
	_, p, _ := net.SplitHostPort(a.String())
	return p
}
