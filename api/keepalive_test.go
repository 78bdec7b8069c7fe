package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"lectern/storage/storagetest"
)

// TestListeningSocketsEndWhenTheirTokenIsRevoked: a room socket and a chat
// socket whose client never sends again end within a check interval once
// their token is revoked by its ID, with the same close as a client that
// sends (the read loop's check); a socket with a good token stays.
func TestListeningSocketsEndWhenTheirTokenIsRevoked(t *testing.T) {
	var deps Deps
	base := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()}, func(d *Deps) { deps = *d })
	cfg := DefaultConfig()
	cfg.PingInterval = time.Second
	deps.Registry = prometheus.NewRegistry()
	srv, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	a := &attackAPI{testAPI: serveAlso(t, base, srv)}
	a.createRoom(map[string]any{"id": "r", "name": "R"})
	mint := func(identity string) (token, id string) {
		r := a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey, map[string]any{"identity": identity, "rooms": map[string]any{"r": map[string]any{"preset": "member"}}})
		return r.str("token"), r.str("token_id")
	}
	tok, id := mint("listener")
	room, _ := a.openSocket(t, "/api/v1/rooms/r/ws", tok, false)
	chat, first := a.openSocket(t, "/api/v1/rooms/r/chat/ws", tok, true)
	if first["type"] != "chat_welcome" {
		t.Fatalf("chat socket: %v", first)
	}
	other, _ := mint("stays")
	stays, _ := a.openSocket(t, "/api/v1/rooms/r/ws", other, false)

	revoked := time.Now()
	a.must(http.StatusNoContent, "DELETE", "/api/v1/tokens/"+id, a.adminKey, nil)
	for name, s := range map[string]*rawSocketConn{"room socket": room, "chat socket": chat} {
		code, reason := s.closed()
		if code != websocket.StatusNormalClosure || !strings.HasPrefix(reason, codeTokenRevoked+": ") {
			t.Errorf("%s: closed %d %q, want %d %q…", name, code, reason, websocket.StatusNormalClosure, codeTokenRevoked)
		}
	}
	// Within a few check intervals (the revocation cache is refreshed
	// within RevocationTTL on other nodes; here the node revoked it).
	if d := time.Since(revoked); d > 5*time.Second {
		t.Errorf("the listening sockets ended %v after the revocation", d)
	}
	if r := stays.call(map[string]any{"type": "ping", "id": "p"}); r["type"] != "pong" {
		t.Errorf("the other token's socket: %v", r)
	}
}
