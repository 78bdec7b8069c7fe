package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/hls"
	"lectern/storage/storagetest"
)

// rawSocketConn is a websocket of the attack suite: frames in, frames out,
// nothing answered on the client's behalf.
type rawSocketConn struct {
	t    *testing.T
	conn *websocket.Conn
}

// openSocket dials path with token (header, or query for the chat socket)
// and returns the socket and its first frame.
func (a *attackAPI) openSocket(t *testing.T, path, token string, inQuery bool) (*rawSocketConn, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(a.url, "http") + path
	opts := &websocket.DialOptions{HTTPHeader: http.Header{}}
	if inQuery {
		url += "?token=" + token
	} else {
		opts.HTTPHeader.Set("Authorization", "Bearer "+token)
	}
	conn, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	s := &rawSocketConn{t: t, conn: conn}
	return s, s.read()
}

// read returns the next frame; it fails the test if the socket closes.
func (s *rawSocketConn) read() map[string]any {
	s.t.Helper()
	m, err := s.tryRead()
	if err != nil {
		s.t.Fatalf("read: %v", err)
	}
	return m
}

func (s *rawSocketConn) tryRead() (map[string]any, error) {
	ctx, cancel := context.WithTimeout(s.t.Context(), 10*time.Second)
	defer cancel()
	_, data, err := s.conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		s.t.Fatalf("frame %s: %v", data, err)
	}
	return m, nil
}

// call sends m and returns the frame that answers it (same id), skipping
// events and offers in between.
func (s *rawSocketConn) call(m map[string]any) map[string]any {
	s.t.Helper()
	s.send(m)
	for {
		r := s.read()
		if r["id"] == m["id"] {
			return r
		}
	}
}

func (s *rawSocketConn) send(m map[string]any) {
	s.t.Helper()
	data, _ := json.Marshal(m)
	if err := s.conn.Write(s.t.Context(), websocket.MessageText, data); err != nil {
		s.t.Fatalf("write: %v", err)
	}
}

// closed reads until the server closes the socket and returns its close
// status and reason.
func (s *rawSocketConn) closed() (websocket.StatusCode, string) {
	s.t.Helper()
	for {
		_, err := s.tryRead()
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			s.t.Fatalf("the socket ended without a close frame: %v", err)
		}
		return ce.Code, ce.Reason
	}
}

// socketAction is one privileged request over the room websocket.
type socketAction struct {
	name string
	need access.Permissions
	msg  map[string]any
	// ok is the reply's type (and code, for an error that is not a
	// refusal) when the token has need.
	okType, okCode string
}

// unheld is a permission bit no token holds: what no one may do.
const unheld access.Permissions = 1 << 7

// TestAttackSocketActions sends each privileged request of the room
// websocket with every role's token: a request the token does not allow is
// refused with permission_denied, the roster and the PINs are shown only
// with list and moderate, and no token publishes into a room it does not
// name.
func TestAttackSocketActions(t *testing.T) {
	a := newAttackAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	offer := offerOf(t, webrtc.MimeTypeVP8, webrtc.RTPTransceiverDirectionSendonly)
	actions := []socketAction{
		{"publish", access.Publish, map[string]any{"type": "publish", "sdp": offer}, "answer", ""},
		{"subscribe", access.Subscribe, map[string]any{"type": "subscribe", "tracks": []string{"nosuch"}}, "error", codeTrackNotFound},
		{"remove", access.Moderate, map[string]any{"type": "remove", "participant": "nobody"}, "error", codeParticipantNotFound},
		{"on_air", access.Moderate, map[string]any{"type": "on_air", "follow_speaker": true}, "ok", ""},
		{"chat_send", access.Send, map[string]any{"type": "chat_send", "text": "hello"}, "chat_sent", ""},
		{"chat_subscribe", access.Receive, map[string]any{"type": "chat_subscribe"}, "ok", ""},
		{"chat_mute", access.Moderate, map[string]any{"type": "chat_mute", "identity": "nobody", "seconds": 60}, "ok", ""},
		// No token of the suite names room other: publishing there is refused to all.
		{"targets other", unheld, map[string]any{"type": "targets", "rooms": []string{"other"}}, "", ""},
	}
	for _, c := range a.creds {
		if c.kind != credToken || c.perms == 0 {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			s, welcome := a.openSocket(t, "/api/v1/rooms/r/ws", c.value(), false)
			if welcome["type"] != "welcome" {
				t.Fatalf("first frame %v", welcome)
			}
			_, roster := welcome["participants"]
			if roster != c.perms.Has(access.List) {
				t.Errorf("welcome shows the roster: %t, want %t (list)", roster, c.perms.Has(access.List))
			}
			room, _ := welcome["room"].(map[string]any)
			if _, pin := room["pin"]; pin != c.perms.Has(access.Moderate) {
				t.Errorf("welcome shows the PINs: %t, want %t (moderate)", pin, c.perms.Has(access.Moderate))
			}
			for i, act := range actions {
				msg := map[string]any{"id": act.name + string(rune('a'+i))}
				for k, v := range act.msg {
					msg[k] = v
				}
				got := s.call(msg)
				wantType, wantCode := act.okType, act.okCode
				if !c.perms.Has(act.need) {
					wantType, wantCode = "error", codePermissionDenied
				}
				if got["type"] != wantType || (wantCode != "" && got["code"] != wantCode) {
					t.Errorf("%s: %v %v, want %s %s", act.name, got["type"], got["code"], wantType, wantCode)
				}
			}
			// GET /rooms/r shows the PINs to moderators only.
			r := a.do("GET", "/api/v1/rooms/r", c.value(), nil)
			if _, pin := r.body["pin"]; r.status != 200 || pin != c.perms.Has(access.Moderate) {
				t.Errorf("GET /rooms/r: %d, shows the PIN: %t", r.status, pin)
			}
		})
	}
}

// TestAttackLiveSocketsEnd: a socket opened with a token that is then
// revoked, banned, deleted or demoted ends with the reason's error code.
func TestAttackLiveSocketsEnd(t *testing.T) {
	a := newAttackAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	open := func(identity string) (room, chat *rawSocketConn, tokenID string) {
		t.Helper()
		a.must(http.StatusCreated, "POST", "/api/v1/rooms/r/members", a.adminKey, map[string]any{"identity": identity, "preset": "member"})
		tok := a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey, map[string]any{"identity": identity, "rooms": map[string]any{"r": map[string]any{}}})
		room, _ = a.openSocket(t, "/api/v1/rooms/r/ws", tok.str("token"), false)
		chat, first := a.openSocket(t, "/api/v1/rooms/r/chat/ws", tok.str("token"), true)
		if first["type"] != "chat_welcome" {
			t.Fatalf("chat socket: %v", first)
		}
		return room, chat, tok.str("token_id")
	}
	wantClosed := func(what string, s *rawSocketConn, code websocket.StatusCode, reason string) {
		t.Helper()
		got, why := s.closed()
		if got != code || !strings.HasPrefix(why, reason) {
			t.Errorf("%s: closed %d %q, want %d %q…", what, got, why, code, reason)
		}
	}

	// Revoked by ID: each socket ends at the client's next request.
	room, chat, id := open("m-revoked")
	a.must(http.StatusNoContent, "DELETE", "/api/v1/tokens/"+id, a.adminKey, nil)
	room.send(map[string]any{"type": "ping", "id": "1"})
	wantClosed("room socket, token revoked", room, websocket.StatusNormalClosure, codeTokenRevoked+": ")
	chat.send(map[string]any{"type": "chat_send", "id": "1", "text": "still here?"})
	wantClosed("chat socket, token revoked", chat, websocket.StatusNormalClosure, codeTokenRevoked+": ")

	// Banned: both end at once, without a request.
	room, chat, _ = open("m-banned")
	a.must(http.StatusOK, "PUT", "/api/v1/rooms/r/bans/m-banned", a.adminKey, map[string]any{"seconds": 600})
	wantClosed("room socket, banned", room, websocket.StatusNormalClosure, "banned")
	wantClosed("chat socket, banned", chat, closeNoReceive, "permission_denied: ")

	// The member deleted: both end at once.
	room, chat, _ = open("m-deleted")
	a.must(http.StatusNoContent, "DELETE", "/api/v1/rooms/r/members/m-deleted", a.adminKey, nil)
	wantClosed("room socket, member deleted", room, websocket.StatusNormalClosure, "member deleted")
	wantClosed("chat socket, member deleted", chat, closeNoReceive, "permission_denied: ")

	// Demoted to publish only: the chat socket ends, the room socket stays
	// and refuses chat.
	room, chat, _ = open("m-demoted")
	a.must(http.StatusOK, "PATCH", "/api/v1/rooms/r/members/m-demoted", a.adminKey, map[string]any{"permissions": []string{"publish"}})
	wantClosed("chat socket, receive revoked", chat, closeNoReceive, "permission_denied: ")
	if r := room.call(map[string]any{"type": "chat_send", "id": "2", "text": "hi"}); r["code"] != codePermissionDenied {
		t.Errorf("room socket, chat_send after the demotion: %v", r)
	}
}

// TestAttackSessionOwner: a WHIP or WHEP session answers only the credential
// that made it; every other caller gets 404, as if it did not exist.
func TestAttackSessionOwner(t *testing.T) {
	a := newAttackAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	byName := map[string]credential{}
	for _, c := range a.creds {
		byName[c.name] = c
	}
	whep := offerOf(t, webrtc.MimeTypeVP8, webrtc.RTPTransceiverDirectionRecvonly)
	whip := offerOf(t, webrtc.MimeTypeVP8, webrtc.RTPTransceiverDirectionSendonly)
	for _, tc := range []struct {
		kind, offer, owner string
	}{
		{"whep", whep, "viewer"},
		{"whip", whip, "stream key"},
		{"whip", whip, "publish only"},
	} {
		owner := byName[tc.owner]
		got, h := a.send("POST", "/"+tc.kind+"/r", owner.value(), typeSDP, tc.offer, false)
		if got.status != http.StatusCreated {
			t.Fatalf("%s as %s: %d %s", tc.kind, tc.owner, got.status, got.code)
		}
		loc := h.Get("Location")
		for _, c := range a.creds {
			if c.name == tc.owner {
				continue
			}
			want := expect(routeRule{gate: gateOwner, probe: probe{ok: outcome{404, codeSessionNotFound}}}, c)
			for _, m := range []string{"PATCH", "DELETE"} {
				if got, _ := a.send(m, loc, c.value(), typeSDPFrag, "a=end-of-candidates\r\n", false); got != want {
					t.Errorf("%s %s session of %s as %s: %d %s, want %d %s", m, tc.kind, tc.owner, c.name, got.status, got.code, want.status, want.code)
				}
			}
		}
		// Under another room's path, the owner's own credential finds nothing either.
		if got, _ := a.send("DELETE", strings.Replace(loc, "/r/", "/other/", 1), owner.value(), "", "", false); got.status/100 != 4 || got.status == 200 {
			t.Errorf("%s session under room other: %d %s", tc.kind, got.status, got.code)
		}
		if got, _ := a.send("DELETE", loc, owner.value(), "", "", false); got.status != http.StatusOK {
			t.Errorf("%s session ended by its owner: %d %s", tc.kind, got.status, got.code)
		}
	}
}

// TestAttackSignedURLs: HLS media and recording URLs open with the session
// the server signed for that room (or recording) until it expires, and with
// nothing else: not another room's session, not an expired or altered one,
// not a token.
func TestAttackSignedURLs(t *testing.T) {
	a := newAttackAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	live := hls.NewSigner(attackSecret, "lectern hls session v1")
	rec := hls.NewSigner(attackSecret, "lectern recording playback v1")
	soon, past := time.Now().Add(time.Hour), time.Now().Add(-time.Second)
	valid := live.Sign("r", soon)
	host := ""
	for _, c := range a.creds {
		if c.name == "host" {
			host = c.value()
		}
	}
	for _, tc := range []struct {
		name, path, token string
		want              outcome
	}{
		// The signature holds: nothing is on air, so there is nothing to serve.
		{"HLS, its room's session", "/hls/r/" + valid + "/s/v0.m3u8", "", outcome{404, codeBroadcastOffline}},
		{"HLS, another room's session", "/hls/r/" + live.Sign("other", soon) + "/s/v0.m3u8", "", outcome{403, codeHLSSession}},
		{"HLS, room r's session under room other", "/hls/other/" + valid + "/s/v0.m3u8", "", outcome{403, codeHLSSession}},
		{"HLS, expired", "/hls/r/" + live.Sign("r", past) + "/s/v0.m3u8", "", outcome{403, codeHLSSession}},
		{"HLS, altered", "/hls/r/" + tamperSession(valid) + "/s/v0.m3u8", "", outcome{403, codeHLSSession}},
		{"HLS, a recording's session", "/hls/r/" + rec.Sign("r", soon) + "/s/v0.m3u8", "", outcome{403, codeHLSSession}},
		{"HLS, a host token instead", "/hls/r/x/s/v0.m3u8", host, outcome{403, codeHLSSession}},
		{"recording, its session", "/recordings/r/rec1/" + rec.Sign("r/rec1", soon) + "/index.m3u8", "", outcome{404, codeRecordingNotFound}},
		{"recording, another recording's session", "/recordings/r/rec1/" + rec.Sign("r/rec2", soon) + "/index.m3u8", "", outcome{403, codeRecordingSession}},
		{"recording, expired", "/recordings/r/rec1/" + rec.Sign("r/rec1", past) + "/index.m3u8", "", outcome{403, codeRecordingSession}},
		{"recording, an HLS session", "/recordings/r/rec1/" + live.Sign("r/rec1", soon) + "/index.m3u8", "", outcome{403, codeRecordingSession}},
		{"recording, a host token instead", "/recordings/r/rec1/x/index.m3u8", host, outcome{403, codeRecordingSession}},
	} {
		if got, _ := a.send("GET", tc.path, tc.token, "", "", false); got != tc.want {
			t.Errorf("%s: %d %s, want %d %s", tc.name, got.status, got.code, tc.want.status, tc.want.code)
		}
	}
}

// tamperSession changes one character of a session's MAC.
func tamperSession(s string) string {
	c := byte('A')
	if s[10] == 'A' {
		c = 'B'
	}
	return s[:10] + string(c) + s[11:]
}

// TestAttackOversized: a body past max_body_bytes is refused with 413 on
// every route that reads JSON, a token past 8 KiB is not parsed, and a
// websocket frame past 64 KiB closes the socket.
func TestAttackOversized(t *testing.T) {
	a := newAttackAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	big := `{"name":"` + strings.Repeat("x", int(DefaultConfig().MaxBodyBytes)) + `"}`
	n := 0
	for _, rule := range attackRules(t) {
		if rule.probe.ctype != "application/json" {
			continue
		}
		method, _, _ := strings.Cut(rule.route, " ")
		n++
		if got, _ := a.send(method, rule.probe.path, a.adminKey, "application/json", big, false); got != (outcome{413, codeBodyTooLarge}) {
			t.Errorf("%s with a %d-byte body: %d %s", rule.route, len(big), got.status, got.code)
		}
	}
	if n < 14 {
		t.Errorf("only %d routes read JSON", n)
	}
	huge := a.sign(access.Claims{Identity: strings.Repeat("h", 9<<10), Rooms: map[string]access.Grant{"r": {Permissions: access.Host}}, ExpiresAt: time.Now().Add(time.Hour)})
	if got, _ := a.send("GET", "/api/v1/rooms/r", huge, "", "", false); got != (outcome{401, codeTokenMalformed}) {
		t.Errorf("a %d-byte token: %d %s", len(huge), got.status, got.code)
	}
	var host string
	for _, c := range a.creds {
		if c.name == "host" {
			host = c.value()
		}
	}
	s, _ := a.openSocket(t, "/api/v1/rooms/r/ws", host, false)
	s.send(map[string]any{"type": "ping", "id": strings.Repeat("p", 70<<10)})
	if code, _ := s.closed(); code != websocket.StatusMessageTooBig {
		t.Errorf("a 70 KiB frame: closed %d, want %d", code, websocket.StatusMessageTooBig)
	}
}

// TestAttackCrossRoom: room r's credentials open nothing in room other:
// not its stream key on WHIP, not a host token on any protocol, not a
// moderator's power over other's chat.
func TestAttackCrossRoom(t *testing.T) {
	a := newAttackAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	byName := map[string]string{}
	for _, c := range a.creds {
		byName[c.name] = c.value()
	}
	whip := offerOf(t, webrtc.MimeTypeVP8, webrtc.RTPTransceiverDirectionSendonly)
	whep := offerOf(t, webrtc.MimeTypeVP8, webrtc.RTPTransceiverDirectionRecvonly)
	a.must(http.StatusCreated, "POST", "/api/v1/rooms/other/stream-key", a.adminKey, nil)
	host := byName["host"]
	for _, tc := range []struct {
		name, method, path, cred, ctype, body string
		inQuery                               bool
		want                                  outcome
	}{
		{"r's stream key on WHIP of other", "POST", "/whip/other", byName["stream key"], typeSDP, whip, false, outcome{401, codeInvalidStreamKey}},
		{"r's host on WHIP of other", "POST", "/whip/other", host, typeSDP, whip, false, outcome{401, codeTokenWrongRoom}},
		{"r's host on WHEP of other", "POST", "/whep/other", host, typeSDP, whep, false, outcome{401, codeTokenWrongRoom}},
		{"r's host on HLS of other", "GET", "/hls/other/index.m3u8", host, "", "", true, outcome{401, codeTokenWrongRoom}},
		{"r's host reads other's stream key", "GET", "/api/v1/rooms/other/stream-key", host, "", "", false, outcome{401, codeTokenWrongRoom}},
		{"r's host mutes in other's chat", "PUT", "/api/v1/rooms/other/chat/mutes/someone", host, "application/json", `{"seconds":60}`, false, outcome{401, codeTokenWrongRoom}},
		{"r's host bans from other", "PUT", "/api/v1/rooms/other/bans/someone", host, "application/json", `{"seconds":60}`, false, outcome{401, codeTokenWrongRoom}},
	} {
		if got, _ := a.send(tc.method, tc.path, tc.cred, tc.ctype, tc.body, tc.inQuery); got != tc.want {
			t.Errorf("%s: %d %s, want %d %s", tc.name, got.status, got.code, tc.want.status, tc.want.code)
		}
	}
	for _, path := range []string{"/api/v1/rooms/other/ws", "/api/v1/rooms/other/chat/ws"} {
		if got := a.dial(path, host, "", true); got != (outcome{401, codeTokenWrongRoom}) {
			t.Errorf("r's host on %s: %d %s", path, got.status, got.code)
		}
	}
}

// TestAttackChatAuthorship: a member deletes its own messages only;
// approving and answering need moderate.
func TestAttackChatAuthorship(t *testing.T) {
	a := newAttackAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	byName := map[string]string{}
	for _, c := range a.creds {
		byName[c.name] = c.value()
	}
	posted := a.must(http.StatusCreated, "POST", "/api/v1/rooms/r/messages", byName["member"], map[string]any{"text": "mine"})
	id, _ := posted.body["id"].(float64)
	path := "/api/v1/rooms/r/messages/" + strconv.Itoa(int(id))
	for _, who := range []string{"speaker", "PIN guest", "viewer", "send only"} {
		if got, _ := a.send("DELETE", path, byName[who], "", "", false); got != (outcome{403, codePermissionDenied}) {
			t.Errorf("%s deletes member's message: %d %s", who, got.status, got.code)
		}
	}
	a.must(http.StatusNoContent, "DELETE", path, byName["member"], nil)
}

// TestAttackPaths: traversal and malformed paths never reach a file
// outside the embedded pages and never answer 500.
func TestAttackPaths(t *testing.T) {
	a := newAttackAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	for _, p := range []string{
		"/js/../../go.mod", "/js/..%2f..%2fgo.mod", "/css/%2e%2e/%2e%2e/go.mod", "/vendor/..%5c..%5cgo.mod",
		"/img/%00", "/js/%ff", "/hls/r/..%2f..%2f/s/v0.m3u8", "/recordings/r/..%2f/x/index.m3u8",
		"/api/v1/rooms/..%2frooms/members", "/api/v1/rooms/r%00/members",
	} {
		req, err := http.NewRequestWithContext(t.Context(), "GET", a.url+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawPath, req.URL.Opaque = "", p // sent as written
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAllString(res)
		if res.StatusCode != 400 && res.StatusCode != 401 && res.StatusCode != 403 && res.StatusCode != 404 {
			t.Errorf("GET %s: %d", p, res.StatusCode)
		}
		if strings.Contains(body, "module lectern") {
			t.Errorf("GET %s served go.mod", p)
		}
	}
}

// TestAttackPublicRoutesLeakNothing: what anyone may read (metrics, health,
// the API document, the pages) names no room, identity or display name,
// even while a participant is in the room.
func TestAttackPublicRoutesLeakNothing(t *testing.T) {
	a := newAttackAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "quiet-room-x7", "name": "Board meeting Q7"})
	tok := a.mint("cfo-zq9", map[string]any{"quiet-room-x7": map[string]any{"preset": "host"}})
	a.openSocket(t, "/api/v1/rooms/quiet-room-x7/ws", tok, false)
	for _, rule := range attackRules(t) {
		if rule.gate != gatePublic || !strings.HasPrefix(rule.route, "GET ") {
			continue
		}
		req, _ := http.NewRequestWithContext(t.Context(), "GET", a.url+rule.probe.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAllString(res)
		for _, secret := range []string{"quiet-room-x7", "cfo-zq9", "Board meeting"} {
			if strings.Contains(body, secret) {
				t.Errorf("GET %s shows %q", rule.probe.path, secret)
			}
		}
	}
}
