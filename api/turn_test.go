package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"lectern/access"
	"lectern/internal/peertest"
	"lectern/relay"
	"lectern/storage/storagetest"
)

// withRelay serves the API of a again, now handing out the ICE servers of an
// embedded TURN server on loopback, and returns that server.
func withRelay(t *testing.T, a *testAPI) *relay.Server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	turn, err := relay.New(relay.Config{UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", PublicIP: "127.0.0.1"},
		[]byte("a TURN secret of at least 16 bytes"), log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- turn.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("turn: %v", err)
		}
	})
	cfg := DefaultConfig()
	cfg.ICEServers = func(identity string, until time.Time) []ICEServer {
		var out []ICEServer
		for _, s := range turn.ICEServers(identity, until) {
			out = append(out, ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
		}
		return out
	}
	srv, err := New(cfg, Deps{DB: a.db, Issuer: a.issuer, Registry: prometheus.NewRegistry(), Log: log,
		SFU: a.media, Chat: startChat(t, a.db, log)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	a.url, a.srv = hs.URL, srv
	return turn
}

// iceConfig turns ice_servers JSON into a relay-only WebRTC configuration.
func iceConfig(t *testing.T, v any) webrtc.Configuration {
	t.Helper()
	data, _ := json.Marshal(v)
	var servers []webrtc.ICEServer
	if err := json.Unmarshal(data, &servers); err != nil || len(servers) == 0 {
		t.Fatalf("ice_servers %s: %v", data, err)
	}
	return webrtc.Configuration{ICEServers: servers, ICETransportPolicy: webrtc.ICETransportPolicyRelay}
}

// TestRelayOnlyPublisher publishes from a pion peer that may use relay
// candidates only, with the ICE servers of the websocket welcome: media goes
// through the embedded TURN server into the SFU and reaches a subscriber.
func TestRelayOnlyPublisher(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	turn := withRelay(t, a)
	room := a.createRoom(map[string]any{"id": "nat", "name": "Behind NAT"})

	joined := a.must(http.StatusOK, "POST", "/api/v1/rooms/nat/join", "", map[string]any{"pin": room.str("pin"), "name": "Guest"})
	iceConfig(t, joined.body["ice_servers"])

	// Publish only: no subscriber connection of its own that the server would
	// renegotiate while the test ends.
	host := dialRoom(t, a, "nat", a.tokenFor("host", "nat", access.Publish))
	welcome := host.next("welcome")
	cfg := iceConfig(t, welcome["ice_servers"])

	// Cleanups run last in, first out: the viewer's socket (dialled below) closes
	// before the publisher stops, so the server never renegotiates with a viewer
	// that is going away.
	pc := peertest.NewPeer(t, nil, cfg)
	track, _ := peertest.SendTrack(t, pc, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam", "s")
	peertest.Pump(t, 5*time.Millisecond, func(i int) {
		payload := []byte{0x10, 0x01, 0, 0}
		if i%10 == 0 {
			payload = []byte{0x10, 0x00, 0x9d, 0x01, 0x2a}
		}
		track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 450}, Payload: payload})
	})
	viewer := dialRoom(t, a, "nat", a.tokenFor("viewer", "nat", access.Subscribe))
	viewer.next("welcome")

	connected := peertest.Connected(pc)
	sdp := peertest.Offer(t, pc)
	if !strings.Contains(sdp, "typ relay") || strings.Contains(sdp, "typ host") {
		t.Fatalf("relay-only offer has other candidates or no relay:\n%s", sdp)
	}
	host.send(map[string]any{"type": "publish", "id": "p", "sdp": sdp, "sources": map[string]string{"cam": "camera"}})
	ans := host.next("answer", "error")
	if ans["type"] != "answer" {
		t.Fatalf("publish: %v", ans)
	}
	peertest.Accept(t, pc, ans["sdp"].(string))
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("publisher not connected through the relay within 10 s")
	}
	pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Typ != webrtc.ICECandidateTypeRelay {
		t.Fatalf("selected pair %v, %v; want a relay candidate", pair, err)
	}
	if n := turn.Allocations(); n == 0 {
		t.Error("no allocation on the embedded TURN server")
	}
	viewer.waitMedia("camera")
	for viewer.packetsOf("camera") < 20 {
		select {
		case <-viewer.received:
		case <-time.After(5 * time.Second):
			t.Fatalf("viewer got %d packets, want 20", viewer.packetsOf("camera"))
		}
	}
}

// TestRelayRefusesBadCredential: a relay-only peer with a wrong TURN password
// gets no allocation, so it has no candidate at all.
func TestRelayRefusesBadCredential(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	turn := withRelay(t, a)
	a.createRoom(map[string]any{"id": "nat", "name": "Behind NAT"})
	host := dialRoom(t, a, "nat", a.tokenFor("host", "nat", access.Host))
	cfg := iceConfig(t, host.next("welcome")["ice_servers"])
	for i := range cfg.ICEServers {
		if cfg.ICEServers[i].Credential != nil {
			cfg.ICEServers[i].Credential = "d3JvbmcgcGFzc3dvcmQ="
		}
	}
	pc := peertest.NewPeer(t, nil, cfg)
	pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if sdp := peertest.Offer(t, pc); strings.Contains(sdp, "a=candidate") {
		t.Errorf("a wrong credential got candidates:\n%s", sdp)
	}
	if n := turn.Allocations(); n != 0 {
		t.Errorf("%d allocations for a wrong credential", n)
	}
}

// TestICEServersHandedOut: join, tokens and WHIP name the TURN server with a
// credential for the caller's identity; without TURN they are [].
func TestICEServersHandedOut(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "r", "name": "R"})
	tok := a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey, map[string]any{"identity": "ann", "rooms": map[string]any{"r": map[string]any{}}})
	if got, ok := tok.body["ice_servers"].([]any); !ok || len(got) != 0 {
		t.Errorf("ice_servers without TURN = %v, want []", tok.body["ice_servers"])
	}

	withRelay(t, a)
	tok = a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey, map[string]any{"identity": "ann", "rooms": map[string]any{"r": map[string]any{}}})
	cfg := iceConfig(t, tok.body["ice_servers"])
	last := cfg.ICEServers[len(cfg.ICEServers)-1]
	if !strings.HasSuffix(last.Username, ":ann") || len(last.URLs) != 2 || !strings.HasPrefix(last.URLs[0], "turn:127.0.0.1:") {
		t.Errorf("TURN entry %+v", last)
	}

	status, h, body := httpDo(t, "POST", a.url+"/whip/r", tok.str("token"), "application/sdp",
		offerOf(t, webrtc.MimeTypeVP8, webrtc.RTPTransceiverDirectionSendonly))
	if status != http.StatusCreated {
		t.Fatalf("WHIP: %d %s", status, body)
	}
	links := h.Values("Link")
	var turnLinks int
	for _, l := range links {
		if strings.HasPrefix(l, "<turn:") && strings.Contains(l, `rel="ice-server"`) && strings.Contains(l, `username="`) &&
			strings.Contains(l, `credential="`) {
			turnLinks++
		}
	}
	if turnLinks != 2 {
		t.Errorf("WHIP Link headers %q, want 2 TURN servers with credentials", links)
	}
}
