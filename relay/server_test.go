package relay

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// startRelay runs a TURN server on loopback ports the OS chooses until the test ends.
func startRelay(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.PublicIP == "" {
		cfg.PublicIP = "127.0.0.1"
	}
	s, err := New(cfg, testSecret, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return s
}

// allocate asks for a UDP relay over conn with the given credential.
func allocate(t *testing.T, conn net.PacketConn, server, user, pass string) (*turn.Client, net.PacketConn, error) {
	t.Helper()
	c, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: server, STUNServerAddr: server, Conn: conn,
		Username: user, Password: pass, RTO: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relayed, err := c.Allocate()
	if err == nil {
		t.Cleanup(func() { relayed.Close() })
	}
	return c, relayed, err
}

func udpClient(t *testing.T) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// TestCredentials allocates with good and bad credentials: only a fresh
// credential signed with the server's secret gets a relay.
func TestCredentials(t *testing.T) {
	s := startRelay(t, Config{UDPAddr: "127.0.0.1:0"})
	addr := s.udp.LocalAddr().String()
	goodUser, goodPass := Credential(testSecret, "alice", time.Now().Add(time.Hour))
	oldUser, oldPass := Credential(testSecret, "alice", time.Now().Add(-time.Minute))
	otherUser, otherPass := Credential([]byte("another secret of 32 bytes......"), "alice", time.Now().Add(time.Hour))
	cases := []struct {
		name, user, pass string
		ok               bool
	}{
		{"fresh", goodUser, goodPass, true},
		{"wrong password", goodUser, "c2VjcmV0", false},
		{"expired", oldUser, oldPass, false},
		{"other secret", otherUser, otherPass, false},
		{"no expiry", "alice", goodPass, false},
		{"identity swapped", strings.Replace(goodUser, "alice", "bob", 1), goodPass, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, relayed, err := allocate(t, udpClient(t), addr, tc.user, tc.pass)
			if tc.ok != (err == nil) {
				t.Fatalf("allocate: err = %v, want success %v", err, tc.ok)
			}
			if tc.ok && !strings.HasPrefix(relayed.LocalAddr().String(), "127.0.0.1:") {
				t.Errorf("relayed address %s, want on the public IP 127.0.0.1", relayed.LocalAddr())
			}
		})
	}
}

// TestRelaysToThisHostOnly sends through a relay to a peer on this host, which
// gets the data, and is refused a permission for an address elsewhere.
func TestRelaysToThisHostOnly(t *testing.T) {
	s := startRelay(t, Config{UDPAddr: "127.0.0.1:0"})
	user, pass := Credential(testSecret, "alice", time.Now().Add(time.Hour))
	c, relayed, err := allocate(t, udpClient(t), s.udp.LocalAddr().String(), user, pass)
	if err != nil {
		t.Fatal(err)
	}
	peer := udpClient(t)
	if _, err := relayed.WriteTo([]byte("hello"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, from, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
	if from.String() != relayed.LocalAddr().String() {
		t.Errorf("data came from %s, want the relayed address %s", from, relayed.LocalAddr())
	}
	if s.Allocations() != 1 {
		t.Errorf("allocations = %d, want 1", s.Allocations())
	}
	elsewhere := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9}
	if err := c.CreatePermission(elsewhere); err == nil {
		t.Error("permission to 192.0.2.1 granted; the relay must serve this host only")
	}
}

// TestStreamTransports allocates over TURN-over-TCP and TURN-over-TLS.
func TestStreamTransports(t *testing.T) {
	cert, pool := selfSigned(t)
	s := startRelay(t, Config{TCPAddr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0",
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, TLSHost: "localhost"})
	user, pass := Credential(testSecret, "alice", time.Now().Add(time.Hour))
	servers := s.ICEServers("alice", time.Now().Add(time.Hour))
	if len(servers) != 1 || len(servers[0].URLs) != 2 || servers[0].Username == "" ||
		!strings.HasPrefix(servers[0].URLs[1], "turns:localhost:") {
		t.Fatalf("ICE servers without UDP: %+v", servers)
	}
	dial := map[string]func() (net.Conn, error){
		"tcp": func() (net.Conn, error) { return net.Dial("tcp", s.tcp.Addr().String()) },
		"tls": func() (net.Conn, error) {
			return tls.Dial("tcp", s.tls.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
		},
	}
	for name, d := range dial {
		t.Run(name, func(t *testing.T) {
			conn, err := d()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, _, err := allocate(t, turn.NewSTUNConn(conn), conn.RemoteAddr().String(), user, pass); err != nil {
				t.Fatalf("allocate over %s: %v", name, err)
			}
		})
	}
}

// TestICEServers checks the URLs handed to clients (RFC 7064, RFC 7065).
func TestICEServers(t *testing.T) {
	s := startRelay(t, Config{UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0"})
	until := time.Now().Add(time.Hour)
	got := s.ICEServers("guest-1", until)
	udpPort, tcpPort := port(s.udp.LocalAddr()), port(s.tcp.Addr())
	if len(got) != 2 || len(got[0].URLs) != 1 || got[0].URLs[0] != "stun:127.0.0.1:"+udpPort || got[0].Username != "" {
		t.Fatalf("STUN entry: %+v", got)
	}
	want := []string{"turn:127.0.0.1:" + udpPort + "?transport=udp", "turn:127.0.0.1:" + tcpPort + "?transport=tcp"}
	if strings.Join(got[1].URLs, " ") != strings.Join(want, " ") {
		t.Errorf("TURN URLs %v, want %v", got[1].URLs, want)
	}
	user, pass := Credential(testSecret, "guest-1", until)
	if got[1].Username != user || got[1].Credential != pass {
		t.Errorf("credential %q/%q, want %q/%q", got[1].Username, got[1].Credential, user, pass)
	}
}

// selfSigned makes a certificate for localhost and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestAllocationQuota: one identity holds at most MaxAllocations relays,
// whatever credentials it mints them with; another identity is not limited
// by it, and a released relay makes room again.
func TestAllocationQuota(t *testing.T) {
	s := startRelay(t, Config{UDPAddr: "127.0.0.1:0", MaxAllocations: 2})
	addr := s.udp.LocalAddr().String()
	cred := func(identity string, ttl time.Duration) (string, string) {
		return Credential(testSecret, identity, time.Now().Add(ttl))
	}
	var relays []net.PacketConn
	for i, ttl := range []time.Duration{time.Hour, 2 * time.Hour} {
		user, pass := cred("mallory", ttl)
		_, relayed, err := allocate(t, udpClient(t), addr, user, pass)
		if err != nil {
			t.Fatalf("allocation %d: %v", i+1, err)
		}
		relays = append(relays, relayed)
	}
	user, pass := cred("mallory", 3*time.Hour)
	if _, _, err := allocate(t, udpClient(t), addr, user, pass); err == nil || !strings.Contains(err.Error(), "486") {
		t.Fatalf("third allocation of one identity: %v, want 486 Allocation Quota Reached", err)
	}
	user, pass = cred("alice", time.Hour)
	if _, _, err := allocate(t, udpClient(t), addr, user, pass); err != nil {
		t.Fatalf("another identity: %v", err)
	}
	// Closing a relay deletes its allocation (a Refresh with lifetime 0).
	relays[0].Close()
	held := func() int {
		s.heldMu.Lock()
		defer s.heldMu.Unlock()
		return s.held["mallory"]
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.After(5 * time.Second); held() != 1; {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("mallory holds %d relays after closing one, want 1", held())
		}
	}
	user, pass = cred("mallory", 4*time.Hour)
	if _, _, err := allocate(t, udpClient(t), addr, user, pass); err != nil {
		t.Fatalf("after releasing one: %v", err)
	}
}
