package api

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"lectern/access"
	"lectern/sfu"
	"lectern/storage/storagetest"
)

// TestChatBadInput: empty, oversize, invalid UTF-8, unknown fields and
// floods get clear errors, and the room goes on working.
func TestChatBadInput(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "conf", "name": "Conf"})
	tok := a.tokenFor("a", "conf", access.Member)
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"empty", `{"text":""}`, 400, codeInvalidChatMessage},
		{"blank", `{"text":"  \n "}`, 400, codeInvalidChatMessage},
		{"oversize", `{"text":"` + strings.Repeat("x", 4001) + `"}`, 400, codeInvalidChatMessage},
		{"invalid UTF-8", "{\"text\":\"caf\xe9\"}", 400, codeInvalidJSON},
		{"control character", `{"text":"beep\u0007"}`, 400, codeInvalidChatMessage},
		{"unknown field", `{"text":"hi","color":"red"}`, 400, codeInvalidJSON},
		{"bad recipient", `{"text":"hi","to":"no spaces"}`, 400, codeInvalidChatMessage},
		{"to oneself", `{"text":"hi","to":"a"}`, 400, codeInvalidChatMessage},
		{"not an object", `["hi"]`, 400, codeInvalidJSON},
		{"too large", `{"text":"` + strings.Repeat("x", 70<<10) + `"}`, 413, codeBodyTooLarge},
	} {
		r := a.do("POST", "/api/v1/rooms/conf/messages", tok, tc.body)
		if r.status != tc.status || r.code() != tc.code || r.str("message") == "" {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.status, r.raw, tc.status, tc.code)
		}
	}
	for _, q := range []string{"?limit=0", "?limit=201", "?before=x", "?before=-1"} {
		if r := a.do("GET", "/api/v1/rooms/conf/messages"+q, tok, nil); r.status != 400 || r.code() != codeInvalidChatMessage {
			t.Errorf("GET %s: %d %s", q, r.status, r.raw)
		}
	}
	if r := a.do("GET", "/api/v1/rooms/nope/messages", a.adminKey, nil); r.code() != codeRoomNotFound {
		t.Errorf("history of a missing room: %s", r.raw)
	}
	if r := a.do("POST", "/api/v1/rooms/conf/messages", a.adminKey, map[string]any{"text": "hi"}); r.status != http.StatusForbidden {
		t.Errorf("posting with the API key: %d %s", r.status, r.raw)
	}

	c := dialChat(t, a.url, "conf", tok, "")
	c.ready()
	for _, tc := range []struct {
		name  string
		typ   websocket.MessageType
		frame string
		code  string
	}{
		{"binary", websocket.MessageBinary, `{"type":"ping"}`, codeInvalidMessage},
		{"not JSON", websocket.MessageText, `hello`, codeInvalidMessage},
		{"invalid UTF-8", websocket.MessageText, "{\"type\":\"chat_send\",\"id\":\"u\",\"text\":\"caf\xe9\"}", codeInvalidMessage},
		{"unknown field", websocket.MessageText, `{"type":"chat_send","id":"f","text":"hi","color":"red"}`, codeInvalidMessage},
		{"unknown type", websocket.MessageText, `{"type":"chat_dance","id":"d"}`, codeInvalidMessage},
		{"no text", websocket.MessageText, `{"type":"chat_send","id":"n"}`, codeInvalidMessage},
		{"empty text", websocket.MessageText, `{"type":"chat_send","id":"e","text":""}`, codeInvalidChatMessage},
		{"oversize text", websocket.MessageText, `{"type":"chat_send","id":"o","text":"` + strings.Repeat("é", 4001) + `"}`, codeInvalidChatMessage},
		{"no message id", websocket.MessageText, `{"type":"chat_delete","id":"m"}`, codeInvalidMessage},
		{"missing message", websocket.MessageText, `{"type":"chat_delete","id":"x","message":999}`, codeMessageNotFound},
		{"mute without moderate", websocket.MessageText, `{"type":"chat_mute","id":"mu","identity":"b","seconds":60}`, codePermissionDenied},
	} {
		if err := c.conn.Write(t.Context(), tc.typ, []byte(tc.frame)); err != nil {
			t.Fatal(err)
		}
		r := c.next("error")
		if r["code"] != tc.code || r["message"] == "" {
			t.Errorf("%s: %v, want %s", tc.name, r, tc.code)
		}
	}

	// A flood is refused with a retry time; others, and the flooder's own
	// socket, keep working.
	other := dialChat(t, a.url, "conf", a.tokenFor("b", "conf", access.Member), "")
	other.ready()
	for i := range 30 {
		c.send(map[string]any{"type": "chat_send", "id": fmt.Sprint("f", i), "text": fmt.Sprint("flood ", i)})
	}
	limited := 0
	for i := range 30 {
		r := c.reply(fmt.Sprint("f", i))
		if r["type"] == "error" {
			if r["code"] != codeChatRateLimited || r["retry_after_ms"].(float64) <= 0 {
				t.Fatalf("flood reply %d = %v", i, r)
			}
			limited++
		}
	}
	if limited == 0 {
		t.Error("30 messages at once were not rate limited")
	}
	fine := sentID(t, other.post("ok", "the room still works", ""))
	other.eventsUntil(fine)
	c.send(map[string]any{"type": "ping", "id": "p"})
	if r := c.reply("p"); r["type"] != "pong" {
		t.Errorf("ping after the flood: %v", r)
	}

	// A frame over the limit closes only that socket, with 1009.
	if err := c.conn.Write(t.Context(), websocket.MessageText, bytes.Repeat([]byte("x"), maxChatFrame+1)); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-c.closed:
		if code != websocket.StatusMessageTooBig {
			t.Errorf("closed with %v, want 1009", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an oversize frame did not close the socket")
	}
	fine = sentID(t, other.post("ok2", "still fine", ""))
	if got := other.eventsUntil(fine); got[len(got)-1] != "message:still fine" {
		t.Errorf("after another's oversize frame: %v", got)
	}
	if _, res, err := dialChatErr(t, a.url, "conf", tok, "&after=-5"); err == nil || res.StatusCode != 400 {
		t.Errorf("after=-5: %v", err)
	}
}

// TestChatSettingsAndMutes: slow mode and mutes through the API.
func TestChatSettingsAndMutes(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "conf", "name": "Conf"})
	mod, member := a.tokenFor("mod", "conf", access.Host), a.tokenFor("m", "conf", access.Member)
	if r := a.do("PATCH", "/api/v1/rooms/conf/chat", member, map[string]any{"slow_mode_seconds": 30}); r.status != http.StatusForbidden {
		t.Errorf("slow mode without moderate: %d", r.status)
	}
	if r := a.do("PATCH", "/api/v1/rooms/conf/chat", mod, map[string]any{"slow_mode_seconds": 3601}); r.code() != codeInvalidChatSettings {
		t.Errorf("slow mode of 3601 s: %s", r.raw)
	}
	r := a.must(http.StatusOK, "PATCH", "/api/v1/rooms/conf/chat", mod, map[string]any{"slow_mode_seconds": 30})
	if r.body["slow_mode_seconds"] != 30.0 || r.body["questions"] != false {
		t.Errorf("settings = %s", r.raw)
	}
	if r := a.must(http.StatusOK, "GET", "/api/v1/rooms/conf", member, nil); r.body["chat"].(map[string]any)["slow_mode_seconds"] != 30.0 {
		t.Errorf("room = %s", r.raw)
	}
	a.must(http.StatusCreated, "POST", "/api/v1/rooms/conf/messages", member, map[string]any{"text": "one"})
	r = a.do("POST", "/api/v1/rooms/conf/messages", member, map[string]any{"text": "two"})
	if r.status != http.StatusTooManyRequests || r.code() != codeChatSlowMode || r.header.Get("Retry-After") == "" {
		t.Errorf("second post in slow mode: %d %v %s", r.status, r.header, r.raw)
	}
	a.must(http.StatusCreated, "POST", "/api/v1/rooms/conf/messages", mod, map[string]any{"text": "moderators are exempt"})
	a.must(http.StatusOK, "PATCH", "/api/v1/rooms/conf/chat", a.adminKey, map[string]any{"slow_mode_seconds": 0})

	for _, body := range []string{`{"seconds":0}`, `{"seconds":2592001}`, `{"secs":5}`} {
		if r := a.do("PUT", "/api/v1/rooms/conf/chat/mutes/m", mod, body); r.status != 400 {
			t.Errorf("mute %s: %d %s", body, r.status, r.raw)
		}
	}
	r = a.must(http.StatusOK, "PUT", "/api/v1/rooms/conf/chat/mutes/m", mod, map[string]any{"seconds": 600})
	if r.body["identity"] != "m" || r.str("until") == "" {
		t.Errorf("mute = %s", r.raw)
	}
	if r := a.do("POST", "/api/v1/rooms/conf/messages", member, map[string]any{"text": "muted?"}); r.status != http.StatusForbidden || r.code() != codeChatMuted {
		t.Errorf("muted post: %d %s", r.status, r.raw)
	}
	if r := a.must(http.StatusOK, "GET", "/api/v1/rooms/conf/chat/mutes", mod, nil); len(r.body["mutes"].([]any)) != 1 {
		t.Errorf("mutes = %s", r.raw)
	}
	if r := a.do("GET", "/api/v1/rooms/conf/chat/mutes", member, nil); r.status != http.StatusForbidden {
		t.Errorf("mutes without moderate: %d", r.status)
	}
	a.must(http.StatusNoContent, "DELETE", "/api/v1/rooms/conf/chat/mutes/m", mod, nil)
	if r := a.do("DELETE", "/api/v1/rooms/conf/chat/mutes/m", mod, nil); r.code() != codeNotMuted {
		t.Errorf("unmuting twice: %s", r.raw)
	}
	a.must(http.StatusCreated, "POST", "/api/v1/rooms/conf/messages", member, map[string]any{"text": "free again"})
}

// TestChatTwoServersSharePostgres: two API servers, as two Lectern processes,
// on one PostgreSQL database deliver each other's messages live.
func TestChatTwoServersSharePostgres(t *testing.T) {
	b := storagetest.Backend{Name: "postgres", DatabaseURL: storagetest.PostgresURL(t), DataDir: t.TempDir()}
	one := newTestAPI(t, b)
	two := secondServer(t, b, one)
	one.createRoom(map[string]any{"id": "conf", "name": "Conf"})
	onOne := dialChat(t, one.url, "conf", one.tokenFor("a", "conf", access.Member), "")
	onTwo := dialChat(t, two, "conf", one.tokenFor("b", "conf", access.Member), "")
	onOne.ready()
	onTwo.ready()
	m1 := sentID(t, onOne.post("1", "from server one", ""))
	m2 := sentID(t, onTwo.post("2", "from server two", ""))
	want := []string{"message:from server one", "message:from server two"}
	for name, c := range map[string]*chatClient{"one": onOne, "two": onTwo} {
		if got := c.eventsUntil(max(m1, m2)); !slices.Equal(got, want) {
			t.Errorf("server %s delivered %v, want %v", name, got, want)
		}
	}
}

// secondServer runs another API server on the same database as first, with
// the same token key, and returns its URL.
func secondServer(t *testing.T, b storagetest.Backend, first *testAPI) string {
	t.Helper()
	db := storagetest.Open(t, b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	media, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", Loopback: true}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { media.Close() })
	srv, err := New(DefaultConfig(), Deps{DB: db, Issuer: first.issuer, Registry: prometheus.NewRegistry(), Log: log,
		SFU: media, Chat: startChat(t, db, log)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs.URL
}

// TestChatPermissionChangeApplies: a member whose receive permission is
// taken away through the API loses its chat socket at once.
func TestChatPermissionChangeApplies(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "conf", "name": "Conf"})
	a.must(http.StatusCreated, "POST", "/api/v1/rooms/conf/members", a.adminKey, map[string]any{"identity": "bob", "preset": "member"})
	c := dialChat(t, a.url, "conf", a.tokenFor("bob", "conf", access.Member), "")
	c.ready()
	a.must(http.StatusOK, "PATCH", "/api/v1/rooms/conf/members/bob", a.adminKey, map[string]any{"permissions": []string{"receive"}})
	if r := c.post("1", "may I?", ""); r["code"] != codePermissionDenied {
		t.Errorf("posting after send was revoked: %v", r)
	}
	a.must(http.StatusOK, "PATCH", "/api/v1/rooms/conf/members/bob", a.adminKey, map[string]any{"permissions": []string{"send"}})
	select {
	case code := <-c.closed:
		if code != closeNoReceive {
			t.Errorf("closed with %v, want %v", code, closeNoReceive)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the socket stayed open after receive was revoked")
	}
}

// TestChatRoomDeletedClosesSockets: deleting a room ends its chat sockets.
func TestChatRoomDeletedClosesSockets(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "doomed", "name": "Doomed"})
	c := dialChat(t, a.url, "doomed", a.tokenFor("bob", "doomed", access.Member), "")
	c.ready()
	a.must(http.StatusNoContent, "DELETE", "/api/v1/rooms/doomed", a.adminKey, nil)
	select {
	case code := <-c.closed:
		if code != closeRoomDeleted {
			t.Errorf("closed with %v, want %v", code, closeRoomDeleted)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the socket stayed open after its room was deleted")
	}
}

// TestChatChangesCrossServers: two servers share PostgreSQL; a member's chat
// socket on server two ends when server one takes its receive permission away,
// and another's ends when server one deletes the room.
func TestChatChangesCrossServers(t *testing.T) {
	b := storagetest.Backend{Name: "postgres", DatabaseURL: storagetest.PostgresURL(t), DataDir: t.TempDir()}
	one := newTestAPI(t, b)
	two := secondServer(t, b, one)
	one.createRoom(map[string]any{"id": "conf", "name": "Conf"})
	one.must(http.StatusCreated, "POST", "/api/v1/rooms/conf/members", one.adminKey, map[string]any{"identity": "bob", "preset": "member"})
	bob := dialChat(t, two, "conf", one.tokenFor("bob", "conf", access.Member), "")
	carol := dialChat(t, two, "conf", one.tokenFor("carol", "conf", access.Member), "")
	bob.ready()
	carol.ready()
	closedWith := func(c *chatClient, want websocket.StatusCode, what string) {
		t.Helper()
		select {
		case code := <-c.closed:
			if code != want {
				t.Errorf("%s: closed with %v, want %v", what, code, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the socket on server two stayed open", what)
		}
	}
	one.must(http.StatusOK, "PATCH", "/api/v1/rooms/conf/members/bob", one.adminKey, map[string]any{"permissions": []string{"send"}})
	closedWith(bob, closeNoReceive, "receive revoked on server one")
	// Carol, who is no member, keeps her socket until the room goes.
	id := sentID(t, carol.post("1", "still here", ""))
	if got := carol.eventsUntil(id); got[len(got)-1] != "message:still here" {
		t.Errorf("carol got %v", got)
	}
	one.must(http.StatusNoContent, "DELETE", "/api/v1/rooms/conf", one.adminKey, nil)
	closedWith(carol, closeRoomDeleted, "room deleted on server one")
}
