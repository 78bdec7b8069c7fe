package main

import (
	"bufio"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowClient is one way of holding a connection without doing one's part.
type slowClient struct {
	name, proto string
	// opening is sent at once; then trickle, if any, every 300 ms until the
	// server closes the connection.
	opening, trickle string
	// answer is how the server's reply must start before it closes; "" for
	// a close without a reply.
	answer string
}

var slowClients = []slowClient{
	{name: "http silent", proto: "http"},
	{name: "http header trickle", proto: "http", opening: "POST /api/v1/rooms/r/join HTTP/1.1\r\nHost: x\r\n", trickle: "X-Slow: 1\r\n"},
	{name: "http body trickle", proto: "http", opening: "POST /api/v1/rooms/r/join HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
		trickle: " ", answer: "HTTP/1.1 408"},
	{name: "http idle keep-alive", proto: "http", opening: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", answer: "HTTP/1.1 200"},
	{name: "rtsp silent", proto: "rtsp"},
	{name: "rtsp half request", proto: "rtsp", opening: "OPTIONS rtsp://127.0.0.1/r RTSP/1.0\r\nCSeq: 1\r\n"},
	{name: "rtsp request trickle", proto: "rtsp", opening: "DESCRIBE rtsp://127.0.0.1/r RTSP/1.0\r\n", trickle: "X-Slow: 1\r\n"},
	{name: "rtsp idle after a request", proto: "rtsp", opening: "OPTIONS rtsp://127.0.0.1/r RTSP/1.0\r\nCSeq: 1\r\n\r\n", answer: "RTSP/1.0 200"},
}

// TestSlowClientsAreCut opens connections to the real server's HTTP and RTSP
// ports that stay silent, stop halfway through a request, trickle a header or
// a body, or idle after a request, and room and chat websockets whose client
// never answers a ping (a dead peer), and checks that the server closes every
// one of them within its timeouts (set to 1 s for reads and pings, 2 s for
// idling), answering 408 to the body that did not arrive.
func TestSlowClientsAreCut(t *testing.T) {
	url, banner, stop := server(t, map[string]string{"LECTERN_DATA_DIR": t.TempDir(),
		"LECTERN_HTTP_HEADER_TIMEOUT": "1s", "LECTERN_HTTP_BODY_TIMEOUT": "1s", "LECTERN_HTTP_IDLE_TIMEOUT": "2s",
		"LECTERN_RTSP_READ_TIMEOUT": "1s", "LECTERN_RTSP_IDLE_TIMEOUT": "2s", "LECTERN_WS_PING_INTERVAL": "1s"})
	defer stop()
	m := rtspLine.FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no RTSP URL in the banner:\n%s", banner)
	}
	addrs := map[string]string{"http": strings.TrimPrefix(url, "http://"), "rtsp": strings.TrimPrefix(m[1], "rtsp://")}
	key := keyLine.FindStringSubmatch(banner)[1]
	if code, _ := call(t, "POST", url+"/api/v1/rooms", key, `{"id":"r","name":"R"}`); code != 201 {
		t.Fatalf("create room: %d", code)
	}
	_, tok := call(t, "POST", url+"/api/v1/tokens", key, `{"identity":"gone","rooms":{"r":{"preset":"member"}}}`)
	clients := slices.Clone(slowClients)
	for _, path := range []string{"/api/v1/rooms/r/ws", "/api/v1/rooms/r/chat/ws"} {
		clients = append(clients, slowClient{name: "websocket without pongs " + path, proto: "http", answer: "HTTP/1.1 101",
			opening: "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer " + tok["token"].(string) + "\r\n\r\n"})
	}
	var wg sync.WaitGroup
	for _, sc := range clients {
		wg.Go(func() {
			held, answer, err := holdUntilClosed(addrs[sc.proto], sc, 40*time.Second)
			switch {
			case err != nil:
				t.Errorf("%s: %v", sc.name, err)
			case !strings.HasPrefix(answer, sc.answer):
				t.Errorf("%s: answered %.40q, want %q", sc.name, answer, sc.answer)
			default:
				t.Logf("%s: closed after %v", sc.name, held.Round(10*time.Millisecond))
			}
		})
	}
	wg.Wait()
}

// holdUntilClosed plays the slow client and returns how long the server kept
// the connection, and the first line it answered.
func holdUntilClosed(addr string, sc slowClient, within time.Duration) (time.Duration, string, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	start := time.Now()
	if _, err := conn.Write([]byte(sc.opening)); err != nil {
		return 0, "", err
	}
	stopTrickle := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stopTrickle)
	if sc.trickle != "" {
		wg.Go(func() {
			tick := time.NewTicker(300 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stopTrickle:
					return
				case <-tick.C:
					if _, err := conn.Write([]byte(sc.trickle)); err != nil {
						return
					}
				}
			}
		})
	}
	conn.SetReadDeadline(start.Add(within))
	r := bufio.NewReader(conn)
	first, _ := r.ReadString('\n')
	for {
		if _, err := r.ReadByte(); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return 0, first, errors.New("still open after " + within.String())
			}
			return time.Since(start), strings.TrimSpace(first), nil
		}
	}
}
