package netlab

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestRelayDelay sends datagrams through a relay to an echo server: each
// comes back, in order, no sooner than the client's up and down delays.
func TestRelayDelay(t *testing.T) {
	echo, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := echo.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			echo.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	lo := netip.MustParseAddr("127.0.0.1")
	r, err := NewRelay(netip.AddrPortFrom(lo, 0), echo.LocalAddr().(*net.UDPAddr).AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.SetDelay(lo, Delay{Up: 30 * time.Millisecond, Down: 20 * time.Millisecond, Jitter: 5 * time.Millisecond})
	client, err := net.DialUDP("udp4", nil, r.conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	start := time.Now()
	for i := range 20 {
		if _, err := client.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	client.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 16)
	for i := range 20 {
		n, err := client.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if n != 1 || buf[0] != byte(i) {
			t.Fatalf("datagram %d: got %v, want [%d] (in order)", i, buf[:n], i)
		}
		if i == 0 {
			if rtt := time.Since(start); rtt < 50*time.Millisecond {
				t.Errorf("first echo after %v, want 50 ms or more", rtt)
			}
		}
	}
}
