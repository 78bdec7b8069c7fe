package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"lectern/access"
	"lectern/storage/storagetest"
)

// tokenFor mints a token for identity with perms in room.
func (a *testAPI) tokenFor(identity, room string, perms access.Permissions) string {
	a.t.Helper()
	return a.sign(access.Claims{Identity: identity, Name: identity, Rooms: map[string]access.Grant{room: {Permissions: perms}},
		ExpiresAt: time.Now().Add(time.Hour)})
}

func TestSocketPublishSubscribeAndRoster(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "conf", "name": "Conf"})
	host := dialRoom(t, a, "conf", a.tokenFor("host", "conf", access.Host))
	if w := host.next("welcome"); w["participant"] == nil || w["room"].(map[string]any)["pin"] == nil {
		t.Fatalf("host welcome: %v", w)
	}
	member := dialRoom(t, a, "conf", a.tokenFor("member", "conf", access.Member))
	member.next("welcome")
	// A subscriber without list gets media but no roster.
	quiet := dialRoom(t, a, "conf", a.tokenFor("quiet", "conf", access.Subscribe))
	if w := quiet.next("welcome"); w["participants"] != nil || w["tracks"] != nil {
		t.Errorf("welcome without list shows the roster: %v", w)
	}
	host.next("participant_joined")

	host.publish("camera", "microphone")
	member.waitMedia("camera", "microphone")
	quiet.waitMedia("camera", "microphone")
	if ev := member.next("track_published"); ev["track"] == nil {
		t.Errorf("track event: %v", ev)
	}
	select {
	case m := <-quiet.in:
		if typ := m["type"]; typ == "participant_joined" || typ == "track_published" || typ == "participant_left" {
			t.Errorf("a participant without list got %v", m)
		}
	default:
	}
}

func TestSocketAudienceCannotPublish(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "web", "name": "Web", "mode": "webinar"})
	viewer := dialRoom(t, a, "web", a.tokenFor("viewer", "web", access.Viewer))
	viewer.next("welcome")
	viewer.send(map[string]any{"type": "publish", "id": "p", "sdp": "v=0\r\n"})
	if e := viewer.next("error"); e["code"] != "permission_denied" || e["id"] != "p" {
		t.Errorf("viewer publish: %v", e)
	}
}

func TestSocketMuteStopsMediaAndTellsOthers(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "m", "name": "M"})
	host := dialRoom(t, a, "m", a.tokenFor("host", "m", access.Host))
	host.next("welcome")
	sub := dialRoom(t, a, "m", a.tokenFor("sub", "m", access.Member))
	sub.next("welcome")
	host.publish("camera")
	sub.waitMedia("camera")
	ev := sub.next("track_published")
	trackID := ev["track"].(map[string]any)["id"].(string)

	host.send(map[string]any{"type": "mute", "id": "m1", "track": trackID, "muted": true})
	host.next("ok")
	upd := sub.next("track_updated")
	if upd["track"].(map[string]any)["muted"] != true {
		t.Fatalf("mute event: %v", upd)
	}
	// Within 200 ms of the event no more packets arrive.
	settle := time.After(200 * time.Millisecond)
	drain := true
	for drain {
		select {
		case <-sub.received:
		case <-settle:
			drain = false
		}
	}
	before := sub.packetsOf("camera")
	quiet := time.After(300 * time.Millisecond)
	for waiting := true; waiting; {
		select {
		case <-sub.received:
			t.Fatalf("media still flowing after mute (%d packets before)", before)
		case <-quiet:
			waiting = false
		}
	}
	host.send(map[string]any{"type": "mute", "id": "m2", "track": trackID, "muted": false})
	host.next("ok")
	sub.waitMediaMore("camera", before)
}

// waitMediaMore waits until more than n packets of src have arrived.
func (c *wsClient) waitMediaMore(src string, n int) {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for c.packetsOf(src) <= n {
		select {
		case <-c.received:
		case <-deadline:
			c.t.Fatalf("no new %s media", src)
		}
	}
}

func TestSocketBadInput(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "b", "name": "B"})
	host := dialRoom(t, a, "b", a.tokenFor("host", "b", access.Host))
	host.next("welcome")
	watcher := dialRoom(t, a, "b", a.tokenFor("w", "b", access.Member))
	watcher.next("welcome")
	host.publish("camera")
	watcher.waitMedia("camera")

	bad := dialRoom(t, a, "b", a.tokenFor("bad", "b", access.Member))
	bad.next("welcome")
	cases := []struct {
		frame, code string
	}{
		{`{"type":"publish","sdp":"this is not sdp"}`, "invalid_sdp"},
		{`{"type":"publish","sdp":"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H265/90000\r\n"}`, "unsupported_codecs"},
		{`{"type":"dance"}`, "invalid_message"},
		{`{"type":"ping","extra":1}`, "invalid_message"},
		{`{"type":`, "invalid_message"},
		{`[]`, "invalid_message"},
		{`{"type":"mute","track":"TR_nope","muted":true}`, "track_not_found"},
		{`{"type":"remove","participant":"PA_x"}`, "permission_denied"},
		{`{"type":"answer","sdp":"v=0"}`, "negotiation_failed"},
		{`{"type":"candidate","target":"publisher","candidate":{"candidate":"x"}}`, "negotiation_failed"},
	}
	for _, tc := range cases {
		if err := bad.sendRaw(websocket.MessageText, []byte(tc.frame)); err != nil {
			t.Fatal(err)
		}
		if e := bad.next("error"); e["code"] != tc.code || e["message"] == "" {
			t.Errorf("%s: %v, want %s", tc.frame, e, tc.code)
		}
	}
	bad.sendRaw(websocket.MessageBinary, []byte{1, 2, 3})
	if e := bad.next("error"); e["code"] != "invalid_message" {
		t.Errorf("binary frame: %v", e)
	}
	bad.send(map[string]any{"type": "ping", "id": "still-here"})
	if p := bad.next("pong"); p["id"] != "still-here" {
		t.Errorf("after bad frames: %v", p)
	}
	// An oversized frame closes that socket with a clear status; the room goes on.
	bad.sendRaw(websocket.MessageText, []byte(`{"type":"ping","id":"`+strings.Repeat("x", 70<<10)+`"}`))
	for range bad.in {
	}
	before := watcher.packetsOf("camera")
	watcher.waitMediaMore("camera", before+20)
}

func TestSocketRefusesBadTokens(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "x", "name": "X"})
	a.createRoom(map[string]any{"id": "y", "name": "Y"})
	for name, tok := range map[string]string{"none": "", "garbage": "a.b.c", "wrong room": a.tokenFor("u", "y", access.Member)} {
		if _, err := dialRoomErr(t, a, "x", tok); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if r := a.do("GET", "/api/v1/rooms/x/ws", a.tokenFor("u", "x", access.Member), nil); r.status != http.StatusUpgradeRequired && r.status != http.StatusBadRequest {
		t.Errorf("plain GET: %d %s", r.status, r.raw)
	}
}

func TestRevokingPublishStopsForwarding(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "rv", "name": "Revoke"})
	a.must(http.StatusCreated, "POST", "/api/v1/rooms/rv/members", a.adminKey, map[string]any{"identity": "spk", "preset": "speaker"})
	spk := dialRoom(t, a, "rv", a.mint("spk", map[string]any{"rv": map[string]any{}}))
	spk.next("welcome")
	sub := dialRoom(t, a, "rv", a.tokenFor("sub", "rv", access.Member))
	sub.next("welcome")
	spk.publish("camera")
	sub.waitMedia("camera")

	a.must(http.StatusOK, "PATCH", "/api/v1/rooms/rv/members/spk", a.adminKey, map[string]any{"preset": "viewer"})
	if ev := spk.next("permissions_changed"); ev["permissions"].(map[string]any)["publish"] != false {
		t.Errorf("permissions event: %v", ev)
	}
	if ev := sub.next("track_unpublished"); ev["track"] == nil {
		t.Errorf("unpublish event: %v", ev)
	}
}
