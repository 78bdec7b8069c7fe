package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"lectern/chat"
	"lectern/storage"
)

// startChat runs a chat hub over db until the test ends.
func startChat(t testing.TB, db *storage.DB, log *slog.Logger) *chat.Hub {
	t.Helper()
	hub, err := chat.New(chat.DefaultConfig(), db, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		hub.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return hub
}

// chatClient is a real websocket to /rooms/{room}/chat/ws. Every frame it
// receives is decoded into in; chat frames are split into their events,
// each delivered as {"type":"event", ...the event...}.
type chatClient struct {
	t    testing.TB
	conn *websocket.Conn
	in   chan map[string]any
	// pending holds frames read while looking for a reply, for later.
	pending []map[string]any
	// closed receives the close status once the socket ends.
	closed chan websocket.StatusCode
}

func dialChat(t testing.TB, baseURL, room, token, query string) *chatClient {
	t.Helper()
	c, res, err := dialChatErr(t, baseURL, room, token, query)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial chat of %s: %v (HTTP %d)", room, err, status)
	}
	return c
}

func dialChatErr(t testing.TB, baseURL, room, token, query string) (*chatClient, *http.Response, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(baseURL, "http") + "/api/v1/rooms/" + room + "/chat/ws?token=" + token + query
	conn, res, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, res, err
	}
	conn.SetReadLimit(1 << 20)
	c := &chatClient{t: t, conn: conn, in: make(chan map[string]any, 4096), closed: make(chan websocket.StatusCode, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				c.closed <- websocket.CloseStatus(err)
				close(c.in)
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) != nil {
				t.Errorf("server sent non-JSON: %s", data)
				continue
			}
			if m["type"] != "chat" {
				c.in <- m
				continue
			}
			for _, e := range m["events"].([]any) {
				ev := e.(map[string]any)
				ev["event"] = ev["type"]
				ev["type"] = "event"
				c.in <- ev
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close(websocket.StatusNormalClosure, "test over")
		<-done
	})
	return c, res, nil
}

func (c *chatClient) send(m map[string]any) {
	c.t.Helper()
	data, _ := json.Marshal(m)
	if err := c.conn.Write(c.t.Context(), websocket.MessageText, data); err != nil {
		c.t.Fatal(err)
	}
}

// pull returns the next frame: one put aside by reply first, else a new one.
func (c *chatClient) pull(deadline <-chan time.Time, what string) map[string]any {
	c.t.Helper()
	if len(c.pending) > 0 {
		m := c.pending[0]
		c.pending = c.pending[1:]
		return m
	}
	select {
	case m, ok := <-c.in:
		if !ok {
			c.t.Fatalf("socket closed while waiting for %s", what)
		}
		return m
	case <-deadline:
		c.t.Fatalf("no %s within 10 s", what)
	}
	return nil
}

// next returns the next frame of one of the types, skipping others.
func (c *chatClient) next(types ...string) map[string]any {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		m := c.pull(deadline, fmt.Sprint(types))
		for _, typ := range types {
			if m["type"] == typ {
				return m
			}
		}
	}
}

// ready waits for the welcome and the end of the backlog and returns the
// backlog's events.
func (c *chatClient) ready() []map[string]any {
	c.t.Helper()
	c.next("chat_welcome")
	var backlog []map[string]any
	for {
		m := c.next("event", "chat_ready")
		if m["type"] == "chat_ready" {
			return backlog
		}
		backlog = append(backlog, m)
	}
}

// post sends chat_send and returns the reply (chat_sent or error).
func (c *chatClient) post(id, text, to string) map[string]any {
	c.t.Helper()
	c.send(map[string]any{"type": "chat_send", "id": id, "text": text, "to": to})
	return c.reply(id)
}

// reply waits for the reply to a request id; frames before it stay queued.
func (c *chatClient) reply(id string) map[string]any {
	c.t.Helper()
	for i, m := range c.pending {
		if m["id"] == id && m["type"] != "event" {
			c.pending = append(c.pending[:i:i], c.pending[i+1:]...)
			return m
		}
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				c.t.Fatalf("socket closed while waiting for the reply to %s", id)
			}
			if m["id"] == id && m["type"] != "event" {
				return m
			}
			c.pending = append(c.pending, m)
		case <-deadline:
			c.t.Fatalf("no reply to %s within 10 s", id)
		}
	}
}

// eventsUntil returns "event:text" for each event up to the one of message id.
func (c *chatClient) eventsUntil(id float64) []string {
	c.t.Helper()
	var out []string
	for {
		m := c.next("event")
		msg := m["message"].(map[string]any)
		out = append(out, fmt.Sprint(m["event"], ":", msg["text"]))
		if msg["id"] == id {
			return out
		}
	}
}

// sentID returns the id of the stored message a chat_sent reply carries.
func sentID(t testing.TB, reply map[string]any) float64 {
	t.Helper()
	if reply["type"] != "chat_sent" {
		t.Fatalf("reply = %v, want chat_sent", reply)
	}
	return reply["chat"].(map[string]any)["id"].(float64)
}
