package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"lectern/access"
	"lectern/storage/storagetest"
)

// TestServerCloseEndsSockets: Close ends the room, chat and stage websockets
// (the HTTP server's Shutdown leaves upgraded connections alone) and returns
// once their handlers have; a socket opened after Close is refused with
// "going away".
func TestServerCloseEndsSockets(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "cs", "name": "CS", "mode": "webinar"})
	token := a.tokenFor("host", "cs", access.Host)
	paths := []string{"/api/v1/rooms/cs/ws", "/api/v1/rooms/cs/chat/ws", "/api/v1/rooms/cs/stage/ws"}
	dial := func(path string) *websocket.Conn {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.url, "http")+path,
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		conn.SetReadLimit(1 << 20)
		t.Cleanup(func() { conn.CloseNow() })
		return conn
	}
	var conns []*websocket.Conn
	for _, p := range paths {
		c := dial(p)
		// The first frame (welcome, chat_welcome, the stage's state) says
		// the session is being served.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, data, err := c.Read(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%s: no first frame: %v", p, err)
		}
		t.Logf("%s: %.60s", p, data)
		conns = append(conns, c)
	}

	closed := make(chan struct{})
	go func() { a.srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return with three sockets open")
	}
	for i, c := range conns {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		var err error
		for err == nil {
			_, _, err = c.Read(ctx) // frames sent before the end, then the end
		}
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: still open 10 s after Close", paths[i])
		}
	}

	// After Close, a socket is refused as the server goes away.
	for _, p := range paths {
		c := dial(p)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		var err error
		for err == nil {
			_, _, err = c.Read(ctx)
		}
		cancel()
		if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
			t.Errorf("%s after Close: %v (status %d), want going away", p, err, got)
		}
	}
}
