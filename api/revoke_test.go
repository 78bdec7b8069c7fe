package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/storage/storagetest"
)

// credentialChecks asks, with token, for each protocol's entry in room r and
// returns the status each answered: the room websocket, WHEP, the HLS
// playlist, the member list and a PATCH of the token's own member record.
func credentialChecks(t *testing.T, a *testAPI, token, self string) map[string]int {
	t.Helper()
	out := map[string]int{}
	c, err := dialRoomErr(t, a, "r", token)
	switch {
	case err == nil:
		out["ws"] = http.StatusSwitchingProtocols
		c.next("welcome")
		c.conn.CloseNow()
	case strings.Contains(err.Error(), "401"):
		out["ws"] = 401
	case strings.Contains(err.Error(), "403"):
		out["ws"] = 403
	default:
		t.Fatalf("room websocket: %v", err)
	}
	offer := offerOf(t, webrtc.MimeTypeVP8, webrtc.RTPTransceiverDirectionRecvonly)
	status, h, _ := httpDo(t, "POST", a.url+"/whep/r", token, typeSDP, offer)
	out["whep"] = status
	if status == http.StatusCreated {
		httpDo(t, "DELETE", a.url+h.Get("Location"), token, "", "")
	}
	// HLS is off in r: a token that may watch gets 404 broadcast_offline.
	out["hls"], _, _ = httpDo(t, "GET", a.url+"/hls/r/index.m3u8?token="+token, "", "", "")
	out["members"] = a.do("GET", "/api/v1/rooms/r/members", token, nil).status
	out["self-patch"] = a.do("PATCH", "/api/v1/rooms/r/members/"+self, token, map[string]any{"preset": "host"}).status
	return out
}

func wantStatuses(t *testing.T, when string, got, want map[string]int) {
	t.Helper()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s answered %d, want %d", when, k, got[k], w)
		}
	}
}

// TestMemberTokenFollowsTheRecord: a member's token minted as host is
// refused on every protocol once the member is demoted to no permissions,
// and once it is deleted (issue 16, point 1).
func TestMemberTokenFollowsTheRecord(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		a := newTestAPI(t, b)
		a.createRoom(map[string]any{"id": "r", "name": "R"})
		a.must(http.StatusCreated, "POST", "/api/v1/rooms/r/members", a.adminKey, map[string]any{"identity": "alice", "preset": "host"})
		tok := a.mint("alice", map[string]any{"r": map[string]any{}})

		wantStatuses(t, "host", credentialChecks(t, a, tok, "alice"),
			map[string]int{"ws": 101, "whep": 201, "hls": 404, "members": 200, "self-patch": 200})

		a.must(http.StatusOK, "PATCH", "/api/v1/rooms/r/members/alice", a.adminKey, map[string]any{"permissions": []string{}})
		wantStatuses(t, "after PATCH to no permissions", credentialChecks(t, a, tok, "alice"),
			map[string]int{"ws": 403, "whep": 403, "hls": 403, "members": 403, "self-patch": 403})

		a.must(http.StatusNoContent, "DELETE", "/api/v1/rooms/r/members/alice", a.adminKey, nil)
		wantStatuses(t, "after DELETE", credentialChecks(t, a, tok, "alice"),
			map[string]int{"ws": 401, "whep": 401, "hls": 401, "members": 401, "self-patch": 401})
		if r := a.do("GET", "/api/v1/rooms/r", tok, nil); r.code() != "token_revoked" {
			t.Errorf("deleted member's token: %d %s, want token_revoked", r.status, r.raw)
		}
	})
}

// TestDemotionAppliesToOpenSocket: on a room websocket opened as host,
// chat_send and chat_mute are refused as soon as the member is demoted, and
// the socket ends once the member is deleted.
func TestDemotionAppliesToOpenSocket(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "r", "name": "R"})
	a.must(http.StatusCreated, "POST", "/api/v1/rooms/r/members", a.adminKey, map[string]any{"identity": "alice", "preset": "host"})
	c := dialRoom(t, a, "r", a.mint("alice", map[string]any{"r": map[string]any{}}))
	c.next("welcome")
	c.send(map[string]any{"type": "chat_send", "id": "s1", "text": "hello"})
	if m := c.next("chat_sent", "error"); m["type"] != "chat_sent" {
		t.Fatalf("host's chat_send: %v", m)
	}

	a.must(http.StatusOK, "PATCH", "/api/v1/rooms/r/members/alice", a.adminKey, map[string]any{"preset": "viewer"})
	c.send(map[string]any{"type": "chat_send", "id": "s2", "text": "still here"})
	if m := c.next("chat_sent", "error"); m["type"] != "error" || m["code"] != "permission_denied" {
		t.Errorf("chat_send after demotion to viewer: %v", m)
	}
	c.send(map[string]any{"type": "chat_mute", "id": "m1", "identity": "bob", "seconds": 60})
	if m := c.next("ok", "error"); m["type"] != "error" || m["code"] != "permission_denied" {
		t.Errorf("chat_mute after demotion to viewer: %v", m)
	}

	// Deleting the member ends its live sessions.
	a.must(http.StatusNoContent, "DELETE", "/api/v1/rooms/r/members/alice", a.adminKey, nil)
	waitSocketClosed(t, c)
}

// waitSocketClosed waits until the server has closed c.
func waitSocketClosed(t *testing.T, c *wsClient) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				return
			}
			if m["type"] == "pong" {
				t.Errorf("a revoked socket answered: %v", m)
			}
		case <-deadline:
			t.Fatal("the socket is still open 30 s after the revocation")
		}
	}
}

// TestRevokeTokenByID: an admin revokes one token by its ID; another token of
// the same identity keeps working.
func TestRevokeTokenByID(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "r", "name": "R"})
	res := a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey, map[string]any{"identity": "u", "rooms": map[string]any{"r": map[string]any{}}})
	tok, id := res.str("token"), res.str("token_id")
	if claims, err := a.issuer.Verify(tok); err != nil || claims.ID != id {
		t.Fatalf("token_id %q, claims %+v, %v", id, claims, err)
	}
	other := a.mint("u", map[string]any{"r": map[string]any{}})
	c := dialRoom(t, a, "r", tok)
	c.next("welcome")
	a.must(http.StatusNoContent, "DELETE", "/api/v1/tokens/"+id, a.adminKey, nil)
	// The open socket ends at its next message.
	c.send(map[string]any{"type": "ping", "id": "p1"})
	waitSocketClosed(t, c)
	if r := a.do("GET", "/api/v1/rooms/r", tok, nil); r.status != 401 || r.code() != "token_revoked" {
		t.Errorf("revoked token: %d %s", r.status, r.raw)
	}
	if _, err := dialRoomErr(t, a, "r", tok); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("revoked token opened a room websocket: %v", err)
	}
	if r := a.do("GET", "/api/v1/rooms/r", other, nil); r.status != 200 {
		t.Errorf("another token of the identity: %d %s", r.status, r.raw)
	}
	if r := a.do("DELETE", "/api/v1/tokens/"+id, other, nil); r.status != 403 {
		t.Errorf("a token revokes: %d %s", r.status, r.raw)
	}
}

// TestRevokeIdentityTokens: an admin revokes every token of a guest in a
// room; its open socket ends and its tokens are refused; other rooms and
// other identities are untouched.
func TestRevokeIdentityTokens(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	room := a.createRoom(map[string]any{"id": "r", "name": "R"})
	a.createRoom(map[string]any{"id": "s", "name": "S"})
	guest := a.must(http.StatusOK, "POST", "/api/v1/rooms/r/join", "", map[string]any{"pin": room.str("pin"), "name": "G"})
	tok, identity := guest.str("token"), guest.str("identity")
	both := a.tokenFor(identity, "s", access.Member)
	c := dialRoom(t, a, "r", tok)
	c.next("welcome")
	bystander := a.tokenFor("bystander", "r", access.Member)

	a.must(http.StatusNoContent, "DELETE", "/api/v1/rooms/r/identities/"+identity+"/tokens", a.adminKey, nil)
	waitSocketClosed(t, c)
	if _, err := dialRoomErr(t, a, "r", tok); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("revoked guest opened a room websocket: %v", err)
	}
	if r := a.do("GET", "/api/v1/rooms/s", both, nil); r.status != 200 {
		t.Errorf("the identity in another room: %d %s", r.status, r.raw)
	}
	if r := a.do("GET", "/api/v1/rooms/r", bystander, nil); r.status != 200 {
		t.Errorf("another identity: %d %s", r.status, r.raw)
	}
	for path, want := range map[string]int{
		"/api/v1/rooms/nope/identities/x/tokens":  404,
		"/api/v1/rooms/r/identities/a%20b/tokens": 400,
	} {
		if r := a.do("DELETE", path, a.adminKey, nil); r.status != want {
			t.Errorf("DELETE %s: %d %s, want %d", path, r.status, r.raw, want)
		}
	}
	if r := a.do("DELETE", "/api/v1/rooms/r/identities/x/tokens", bystander, nil); r.status != 403 {
		t.Errorf("a token revokes: %d %s", r.status, r.raw)
	}
}

// TestChatSocketFollowsTheRecord: on an open chat websocket a member demoted
// to viewer can no longer post, and a token revoked by ID ends the socket at
// its next frame.
func TestChatSocketFollowsTheRecord(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "r", "name": "R"})
	a.must(http.StatusCreated, "POST", "/api/v1/rooms/r/members", a.adminKey, map[string]any{"identity": "alice", "preset": "host"})
	res := a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey, map[string]any{"identity": "alice", "rooms": map[string]any{"r": map[string]any{}}})
	tok := res.str("token")
	c := dialChat(t, a.url, "r", tok, "")
	c.ready()
	sentID(t, c.post("1", "hello", ""))

	a.must(http.StatusOK, "PATCH", "/api/v1/rooms/r/members/alice", a.adminKey, map[string]any{"preset": "viewer"})
	if r := c.post("2", "still here", ""); r["type"] != "error" || r["code"] != "permission_denied" {
		t.Errorf("chat_send after demotion to viewer: %v", r)
	}

	a.must(http.StatusNoContent, "DELETE", "/api/v1/tokens/"+res.str("token_id"), a.adminKey, nil)
	c.send(map[string]any{"type": "chat_send", "id": "3", "text": "after revocation"})
	deadline := time.After(30 * time.Second)
	for open := true; open; {
		select {
		case m, ok := <-c.in:
			if !ok {
				open = false
			} else if m["id"] == "3" {
				t.Errorf("a revoked chat socket answered: %v", m)
			}
		case <-deadline:
			t.Fatal("the chat socket is still open 30 s after the revocation")
		}
	}
	if _, res, err := dialChatErr(t, a.url, "r", tok, ""); err == nil || res == nil || res.StatusCode != 401 {
		t.Errorf("revoked token opened a chat websocket: %v", err)
	}
}

// TestBanKeepsIdentityOut: a moderator bans a guest: its socket ends, its
// token and any new one for the identity are refused in the room until the
// ban is lifted.
func TestBanKeepsIdentityOut(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "r", "name": "R"})
	host := a.tokenFor("host", "r", access.Host)
	guest := a.tokenFor("guest", "r", access.Member)
	c := dialRoom(t, a, "r", guest)
	c.next("welcome")

	ban := a.must(http.StatusOK, "PUT", "/api/v1/rooms/r/bans/guest", host, map[string]any{"seconds": 600})
	if until, err := time.Parse(time.RFC3339, ban.str("until")); err != nil || time.Until(until) < 9*time.Minute {
		t.Errorf("ban = %s", ban.raw)
	}
	waitSocketClosed(t, c)
	if _, err := dialRoomErr(t, a, "r", guest); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("banned guest opened a room websocket: %v", err)
	}
	if r := a.do("GET", "/api/v1/rooms/r", a.mint("guest", map[string]any{"r": map[string]any{}}), nil); r.status != 403 || r.code() != "banned" {
		t.Errorf("a new token of the banned identity: %d %s", r.status, r.raw)
	}
	for _, body := range []map[string]any{{"seconds": 0}, {"seconds": 31 * 24 * 3600}, {}} {
		if r := a.do("PUT", "/api/v1/rooms/r/bans/guest", host, body); r.status != 400 || r.code() != "invalid_ban" {
			t.Errorf("ban %v: %d %s", body, r.status, r.raw)
		}
	}
	if r := a.do("PUT", "/api/v1/rooms/r/bans/host", guest, map[string]any{"seconds": 60}); r.status != 403 {
		t.Errorf("the banned guest bans: %d %s", r.status, r.raw)
	}
	a.must(http.StatusNoContent, "DELETE", "/api/v1/rooms/r/bans/guest", host, nil)
	if r := a.do("GET", "/api/v1/rooms/r", guest, nil); r.status != 200 {
		t.Errorf("after the ban is lifted: %d %s", r.status, r.raw)
	}
}
