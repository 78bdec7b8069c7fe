package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"lectern/access"
	"lectern/storage/storagetest"
)

// newCappedAPI is a test server whose caps are c.
func newCappedAPI(t *testing.T, c Caps) *testAPI {
	t.Helper()
	// A second server over the first one's store and media, with caps c.
	var deps Deps
	base := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()}, func(d *Deps) { deps = *d })
	cfg := DefaultConfig()
	cfg.Caps = c
	deps.Registry = prometheus.NewRegistry()
	srv, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	return serveAlso(t, base, srv)
}

// socketDial opens a websocket at path (room or chat) with token and returns
// it once its first frame (the welcome) came, or the refusal's HTTP status and
// JSON code.
func socketDial(t *testing.T, a *testAPI, path, token string) (conn *websocket.Conn, status int, code string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(a.url, "http") + path + "?token=" + token
	conn, res, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		if res == nil {
			t.Fatalf("dial %s: %v", path, err)
		}
		body, _ := io.ReadAll(res.Body)
		var e struct{ Code string }
		json.Unmarshal(body, &e)
		return nil, res.StatusCode, e.Code
	}
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	if _, data, err := conn.Read(ctx); err != nil || !strings.Contains(string(data), "welcome") {
		t.Fatalf("%s: first frame %s, %v; want a welcome", path, data, err)
	}
	return conn, http.StatusSwitchingProtocols, ""
}

// TestCapsSocketsPerAddress floods room and chat websockets from one address,
// as in issue 16 (one audience token's chat sockets, room sockets of many
// identities): exactly max_sockets_per_addr open, every further upgrade gets
// 429 too_many_sessions; closing one lets exactly one more in.
func TestCapsSocketsPerAddress(t *testing.T) {
	const limit = 8
	a := newCappedAPI(t, Caps{RoomParticipants: 100, SocketsPerAddr: limit, WHEPPerRoom: 100, WHEPPerAddr: 100})
	a.createRoom(map[string]any{"id": "flood", "name": "Flood"})
	viewer := a.tokenFor("viewer", "flood", access.Viewer)
	var open []*websocket.Conn
	refused := 0
	for i := range 5 * limit {
		path, token := "/api/v1/rooms/flood/chat/ws", viewer
		if i%2 == 1 {
			path, token = "/api/v1/rooms/flood/ws", a.tokenFor(fmt.Sprint("p", i), "flood", access.Member)
		}
		conn, status, code := socketDial(t, a, path, token)
		switch {
		case conn != nil:
			open = append(open, conn)
		case status == http.StatusTooManyRequests && code == codeTooManySessions:
			refused++
		default:
			t.Fatalf("socket %d: %d %q, want 101 or 429 %s", i, status, code, codeTooManySessions)
		}
	}
	if len(open) != limit || refused != 4*limit {
		t.Fatalf("%d sockets opened and %d refused from one address, want %d and %d", len(open), refused, limit, 4*limit)
	}
	if r, ok := a.media.LiveRoom("flood"); !ok || len(r.Participants()) != limit/2 {
		t.Errorf("room participants: %d, want %d", len(r.Participants()), limit/2)
	}
	// A chat socket closes: one new socket gets in, the next is refused.
	if open[0].Close(websocket.StatusNormalClosure, "bye") != nil {
		t.Fatal("close failed")
	}
	eventually(t, 5*time.Second, "a socket after one closed", func() bool {
		conn, _, _ := socketDial(t, a, "/api/v1/rooms/flood/ws", a.tokenFor("late", "flood", access.Member))
		return conn != nil
	})
	if _, status, code := socketDial(t, a, "/api/v1/rooms/flood/chat/ws", viewer); status != http.StatusTooManyRequests || code != codeTooManySessions {
		t.Fatalf("second socket after one closed: %d %q, want 429 %s", status, code, codeTooManySessions)
	}
}

// TestCapsRoomParticipants fills a room to max_room_participants with room
// websockets and a WHIP publisher: another identity gets 409 room_full (as a
// room socket and as WHIP), the same identity coming back replaces itself,
// and one leaving lets one more in.
func TestCapsRoomParticipants(t *testing.T) {
	a := newCappedAPI(t, Caps{RoomParticipants: 3, SocketsPerAddr: 100, WHEPPerRoom: 100, WHEPPerAddr: 100})
	a.createRoom(map[string]any{"id": "full", "name": "Full"})
	conns := map[string]*websocket.Conn{}
	for _, id := range []string{"p1", "p2"} {
		conn, status, code := socketDial(t, a, "/api/v1/rooms/full/ws", a.tokenFor(id, "full", access.Member))
		if conn == nil {
			t.Fatalf("%s: %d %q", id, status, code)
		}
		conns[id] = conn
	}
	status, header, body := httpDo(t, "POST", a.url+"/whip/full", a.tokenFor("enc", "full", access.Host), typeSDP,
		offerOf(t, webrtc.MimeTypeVP8, webrtc.RTPTransceiverDirectionSendonly))
	if status != http.StatusCreated {
		t.Fatalf("WHIP within the cap: %d %s", status, body)
	}
	p4 := a.tokenFor("p4", "full", access.Member)
	if _, status, code := socketDial(t, a, "/api/v1/rooms/full/ws", p4); status != http.StatusConflict || code != codeRoomFull {
		t.Fatalf("room socket past the cap: %d %q, want 409 %s", status, code, codeRoomFull)
	}
	status, _, body = httpDo(t, "POST", a.url+"/whip/full", a.tokenFor("enc2", "full", access.Host), typeSDP,
		offerOf(t, webrtc.MimeTypeVP8, webrtc.RTPTransceiverDirectionSendonly))
	if status != http.StatusConflict || !strings.Contains(body, codeRoomFull) {
		t.Fatalf("WHIP past the cap: %d %s, want 409 %s", status, body, codeRoomFull)
	}
	// p1 again (another tab): it replaces itself, the room stays at 3.
	if conn, status, code := socketDial(t, a, "/api/v1/rooms/full/ws", a.tokenFor("p1", "full", access.Member)); conn == nil {
		t.Fatalf("p1 rejoining a full room: %d %q, want it to replace itself", status, code)
	}
	// The WHIP publisher ends: one place is free.
	if status, _, body := httpDo(t, "DELETE", a.url+header.Get("Location"), a.tokenFor("enc", "full", access.Host), "", ""); status != http.StatusOK {
		t.Fatalf("DELETE WHIP: %d %s", status, body)
	}
	var in *websocket.Conn
	eventually(t, 5*time.Second, "p4 in after the publisher left", func() bool {
		in, _, _ = socketDial(t, a, "/api/v1/rooms/full/ws", p4)
		return in != nil
	})
	if _, status, code := socketDial(t, a, "/api/v1/rooms/full/ws", a.tokenFor("p5", "full", access.Member)); status != http.StatusConflict || code != codeRoomFull {
		t.Fatalf("p5 after p4 took the place: %d %q, want 409 %s", status, code, codeRoomFull)
	}
}

// TestCapsWHEP opens WHEP viewers to max_whep_per_room in one room and to
// max_whep_per_addr across two: the room's next viewer gets 409 room_full,
// the address's next 429 too_many_sessions; a DELETE frees a place.
func TestCapsWHEP(t *testing.T) {
	a := newCappedAPI(t, Caps{RoomParticipants: 100, SocketsPerAddr: 100, WHEPPerRoom: 2, WHEPPerAddr: 3})
	for _, id := range []string{"wa", "wb"} {
		a.createRoom(map[string]any{"id": id, "name": id})
	}
	watch := func(room, who string) (int, http.Header, string) {
		return httpDo(t, "POST", a.url+"/whep/"+room, a.tokenFor(who, room, access.Viewer), typeSDP,
			offerOf(t, webrtc.MimeTypeVP8, webrtc.RTPTransceiverDirectionRecvonly))
	}
	var first http.Header
	for i, who := range []string{"v1", "v2"} {
		status, h, body := watch("wa", who)
		if status != http.StatusCreated {
			t.Fatalf("viewer %s: %d %s", who, status, body)
		}
		if i == 0 {
			first = h
		}
	}
	if status, _, body := watch("wa", "v3"); status != http.StatusConflict || !strings.Contains(body, codeRoomFull) {
		t.Fatalf("third viewer of wa: %d %s, want 409 %s", status, body, codeRoomFull)
	}
	if status, _, body := watch("wb", "v4"); status != http.StatusCreated {
		t.Fatalf("viewer of wb: %d %s", status, body)
	}
	if status, _, body := watch("wb", "v5"); status != http.StatusTooManyRequests || !strings.Contains(body, codeTooManySessions) {
		t.Fatalf("fourth viewer from one address: %d %s, want 429 %s", status, body, codeTooManySessions)
	}
	if status, _, body := httpDo(t, "DELETE", a.url+first.Get("Location"), a.tokenFor("v1", "wa", access.Viewer), "", ""); status != http.StatusOK {
		t.Fatalf("DELETE v1: %d %s", status, body)
	}
	eventually(t, 5*time.Second, "v3 in after v1 left", func() bool {
		status, _, _ := watch("wa", "v3")
		return status == http.StatusCreated
	})
	if status, _, body := watch("wa", "v6"); status != http.StatusConflict && status != http.StatusTooManyRequests {
		t.Fatalf("viewer past both caps: %d %s", status, body)
	}
}

// TestSessionCapsCountRules checks the counting rules without servers:
// replacement, release twice, buckets apart.
func TestSessionCapsCountRules(t *testing.T) {
	sc := newSessionCaps(Caps{RoomParticipants: 2, SocketsPerAddr: 3, WHEPPerRoom: 1, WHEPPerAddr: 2})
	must := func(k sessionKind, addr, room, id string) func() {
		t.Helper()
		r, err := sc.acquire(k, addr, room, id)
		if err != nil {
			t.Fatalf("acquire %v %s %s %s: %v", k, addr, room, id, err)
		}
		return r
	}
	refused := func(k sessionKind, addr, room, id string, status int, code string) {
		t.Helper()
		_, err := sc.acquire(k, addr, room, id)
		if e := apiError(err); err == nil || e.Status != status || e.Code != code {
			t.Fatalf("acquire %v %s %s %s: %v, want %d %s", k, addr, room, id, err, status, code)
		}
	}
	a1 := must(sessionRoomSocket, "10.0.0.1", "r", "a")
	must(sessionRoomSocket, "10.0.0.1", "r", "a") // a replacing itself: 2 sockets, 1 participant
	c := must(sessionChatSocket, "10.0.0.1", "r", "a")
	refused(sessionChatSocket, "10.0.0.1", "r", "a", http.StatusTooManyRequests, codeTooManySessions)
	c()
	must(sessionChatSocket, "10.0.0.2", "r", "a")
	must(sessionWHIP, "10.0.0.2", "r", "enc") // room r: browser a, whip enc
	refused(sessionRoomSocket, "10.0.0.3", "r", "b", http.StatusConflict, codeRoomFull)
	must(sessionRoomSocket, "10.0.0.3", "other", "b")
	a1()
	a1()                                                                                // a second release changes nothing
	refused(sessionRoomSocket, "10.0.0.1", "r", "b", http.StatusConflict, codeRoomFull) // a's second socket still holds its place
	must(sessionChatSocket, "10.0.0.1", "r", "a")
	must(sessionChatSocket, "10.0.0.1", "r", "a")
	refused(sessionRoomSocket, "10.0.0.1", "r", "b", http.StatusTooManyRequests, codeTooManySessions) // the address first
	w := must(sessionWHEP, "10.0.0.4", "r", "v")
	must(sessionWHEP, "10.0.0.4", "r", "v") // the same viewer replacing itself
	refused(sessionWHEP, "10.0.0.4", "r", "w", http.StatusTooManyRequests, codeTooManySessions)
	refused(sessionWHEP, "10.0.0.5", "r", "w", http.StatusConflict, codeRoomFull)
	w()
	refused(sessionWHEP, "10.0.0.5", "r", "w", http.StatusConflict, codeRoomFull) // v's second session still holds it
	if got := fmt.Sprint(len(sc.roomWHEP["r"]), len(sc.addrWHEP["10.0.0.4"])); got != "1 1" {
		t.Errorf("after one release: room and address hold %s, want 1 1", got)
	}
}

// TestCapsFloodAtDefaults replays issue 16's flood with the default caps: one
// audience token opens 1,000 chat websockets from one address. 200 open
// (max_sockets_per_addr), 800 get 429 too_many_sessions, and the server's
// goroutines grow with the open ones only.
func TestCapsFloodAtDefaults(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "big", "name": "Big"})
	viewer := a.tokenFor("viewer", "big", access.Viewer)
	before := runtime.NumGoroutine()
	open, refused := 0, 0
	for i := range 1000 {
		conn, status, code := socketDial(t, a, "/api/v1/rooms/big/chat/ws", viewer)
		switch {
		case conn != nil:
			open++
			// Read on, as any client must: a socket that never reads
			// answers no ping, and the server closes it after its ping
			// interval, freeing its place (a loaded CI run took 34 s for
			// the flood and opened 261).
			go func() {
				for {
					if _, _, err := conn.Read(t.Context()); err != nil {
						return
					}
				}
			}()
		case status == http.StatusTooManyRequests && code == codeTooManySessions:
			refused++
		default:
			t.Fatalf("socket %d: %d %q", i, status, code)
		}
	}
	grown := runtime.NumGoroutine() - before
	t.Logf("1,000 chat websockets from one address: %d open, %d refused; goroutines +%d (client and server sides)", open, refused, grown)
	if want := DefaultCaps().SocketsPerAddr; open != want || refused != 1000-want {
		t.Fatalf("%d open, %d refused, want %d and %d", open, refused, want, 1000-want)
	}
}
