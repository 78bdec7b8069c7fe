package api

import (
	"fmt"
	"slices"
	"testing"

	"lectern/access"
	"lectern/storage/storagetest"
)

// chatTexts returns "event:text" of every event in the room websocket's chat
// frames until the message with id arrives.
func (c *wsClient) chatTexts(id float64) []string {
	c.t.Helper()
	var out []string
	for {
		var f map[string]any
		if len(c.held) > 0 {
			f, c.held = c.held[0], c.held[1:]
		} else {
			f = c.next("chat")
		}
		for _, e := range f["events"].([]any) {
			ev := e.(map[string]any)
			msg := ev["message"].(map[string]any)
			out = append(out, fmt.Sprint(ev["type"], ":", msg["text"]))
			if msg["id"] == id {
				return out
			}
		}
	}
}

// TestRoomSocketChat: participants chat over the room websocket with the
// same frames, permissions and resume as the chat websocket, and the two
// reach each other.
func TestRoomSocketChat(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		a := newTestAPI(t, b)
		a.createRoom(map[string]any{"id": "conf", "name": "Conf"})
		ws := dialRoom(t, a, "conf", a.tokenFor("a", "conf", access.Member))
		ws.next("welcome")
		ws.send(map[string]any{"type": "chat_subscribe", "id": "s1"})
		if r := ws.next("ok", "error"); r["type"] != "ok" || r["id"] != "s1" {
			t.Fatalf("chat_subscribe: %v", r)
		}
		ws.next("chat_ready")
		cb := dialChat(t, a.url, "conf", a.tokenFor("b", "conf", access.Member), "")
		cb.ready()

		// Room socket to chat socket and back.
		ws.send(map[string]any{"type": "chat_send", "id": "1", "text": "from the room socket"})
		sent := ws.nextHolding("chat_sent", "error")
		fromA := sentID(t, sent)
		if got := cb.eventsUntil(fromA); !slices.Equal(got, []string{"message:from the room socket"}) {
			t.Errorf("chat socket got %v", got)
		}
		fromB := sentID(t, cb.post("2", "from the chat socket", ""))
		if got := ws.chatTexts(fromB); !slices.Equal(got, []string{"message:from the room socket", "message:from the chat socket"}) {
			t.Errorf("room socket got %v", got)
		}

		// Bad chat input is an error reply; the socket keeps working.
		ws.send(map[string]any{"type": "chat_send", "id": "3", "text": ""})
		if r := ws.next("error"); r["id"] != "3" || r["code"] == "" {
			t.Errorf("empty text: %v", r)
		}
		ws.send(map[string]any{"type": "chat_subscribe", "id": "4", "after": -5})
		if r := ws.next("error"); r["id"] != "4" || r["code"] != codeInvalidMessage {
			t.Errorf("negative after: %v", r)
		}

		// Resubscribing after a seq resumes with what came later only: the
		// backlog, then chat_ready at the last seq.
		last := sentID(t, cb.post("5", "later", ""))
		if got := ws.chatTexts(last); !slices.Equal(got, []string{"message:later"}) {
			t.Errorf("live after the errors: %v", got)
		}
		ws.send(map[string]any{"type": "chat_subscribe", "id": "6", "after": fromB})
		ws.nextHolding("ok")
		var resumed []string
		for {
			var m map[string]any
			if len(ws.held) > 0 {
				m, ws.held = ws.held[0], ws.held[1:]
			} else {
				m = ws.next("chat", "chat_ready")
			}
			if m["type"] == "chat_ready" {
				if m["seq"] != last {
					t.Errorf("chat_ready at %v, want %v", m["seq"], last)
				}
				break
			}
			for _, e := range m["events"].([]any) {
				resumed = append(resumed, e.(map[string]any)["message"].(map[string]any)["text"].(string))
			}
		}
		if !slices.Equal(resumed, []string{"later"}) {
			t.Errorf("resumed after %v: %v", fromB, resumed)
		}

		// Without receive: no subscription, and the socket still answers.
		deaf := dialRoom(t, a, "conf", a.tokenFor("deaf", "conf", access.Member&^access.Receive))
		deaf.next("welcome")
		deaf.send(map[string]any{"type": "chat_subscribe", "id": "7"})
		if r := deaf.next("ok", "error"); r["type"] != "error" || r["code"] != codePermissionDenied {
			t.Errorf("chat_subscribe without receive: %v", r)
		}
		deaf.send(map[string]any{"type": "ping", "id": "8"})
		deaf.next("pong")
	})
}
