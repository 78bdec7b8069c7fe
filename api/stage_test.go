package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"lectern/access"
	"lectern/rooms"
	"lectern/storage/storagetest"
)

// stageClient is a real stage websocket.
type stageClient struct {
	t    testing.TB
	conn *websocket.Conn
	in   chan map[string]any
}

func dialStage(t testing.TB, base, room, token string) *stageClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/rooms/" + room + "/stage/ws"
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatal(err)
	}
	c := &stageClient{t: t, conn: conn, in: make(chan map[string]any, 256)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c.in)
		readMessages(conn, func(m map[string]any, data []byte) bool {
			if m == nil {
				t.Errorf("server sent non-JSON: %s", data)
				return false
			}
			c.in <- m
			return true
		})
	}()
	t.Cleanup(func() {
		conn.Close(websocket.StatusNormalClosure, "test over")
		<-done
	})
	return c
}

func (c *stageClient) send(m map[string]any) {
	c.t.Helper()
	if err := wsjsonWrite(c.t.Context(), c.conn, m); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next frame whose type (or, for stage_event, event) is
// one of want, skipping others.
func (c *stageClient) next(want ...string) map[string]any {
	c.t.Helper()
	return nextFrame(c.t, c.in, 10*time.Second, want, func(m map[string]any, w string) bool {
		return m["type"] == w || (m["type"] == "stage_event" && m["event"] == w)
	})
}

// request sends a frame with an id and returns its reply.
func (c *stageClient) request(m map[string]any) map[string]any {
	c.t.Helper()
	id := m["type"].(string) + "-req"
	m["id"] = id
	c.send(m)
	for {
		r := c.next("ok", "error")
		if r["id"] == id {
			return r
		}
	}
}

func wsjsonWrite(ctx context.Context, conn *websocket.Conn, m map[string]any) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return conn.Write(ctx, websocket.MessageText, data)
}

// TestStageHandInviteAcceptPublishEnd: a viewer raises a hand, the host sees
// it, invites, the viewer accepts and publishes with the stage token, the
// host receives the media; the host ends the turn: the viewer's session
// closes, the stage token is refused on the room websocket and WHIP, and the
// viewer is back in the audience.
func TestStageHandInviteAcceptPublishEnd(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "w", "name": "W", "mode": "webinar", "tier": "hd"})
	hostTok := a.tokenFor("host", "w", access.Host)
	studio := dialStage(t, a.url, "w", hostTok)
	if w := studio.next("stage_welcome"); w["moderator"] != true {
		t.Fatalf("host welcome: %v", w)
	}
	hostRoom := dialRoom(t, a, "w", hostTok)
	hostRoom.next("welcome")
	ann := dialStage(t, a.url, "w", a.tokenFor("ann", "w", access.Viewer))
	bob := dialStage(t, a.url, "w", a.tokenFor("bob", "w", access.Viewer))
	if w := ann.next("stage_welcome"); w["moderator"] != false {
		t.Fatalf("viewer welcome: %v", w)
	}
	bob.next("stage_welcome")

	if r := ann.request(map[string]any{"type": "hand_raise"}); r["type"] != "ok" || r["hand"] == nil {
		t.Fatalf("raise: %v", r)
	}
	if ev := studio.next("hand_raised"); ev["identity"] != "ann" {
		t.Fatalf("studio: %v", ev)
	}
	if r := bob.request(map[string]any{"type": "stage_invite", "identity": "ann"}); r["code"] != "permission_denied" {
		t.Fatalf("a viewer invites: %v", r)
	}
	if r := a.do("GET", "/api/v1/rooms/w/stage", a.tokenFor("bob", "w", access.Viewer), nil); r.status != 403 {
		t.Fatalf("a viewer reads the stage: %d %s", r.status, r.raw)
	}
	st := a.must(http.StatusOK, "GET", "/api/v1/rooms/w/stage", hostTok, nil)
	if hands := st.body["hands"].([]any); len(hands) != 1 || hands[0].(map[string]any)["identity"] != "ann" {
		t.Fatalf("stage: %s", st.raw)
	}
	if r := a.do("POST", "/api/v1/rooms/w/stage/invitations", hostTok, map[string]any{"identity": "ann", "tier": "4k"}); r.status != 400 {
		t.Fatalf("a tier above the room's: %d %s", r.status, r.raw)
	}
	in := a.must(http.StatusCreated, "POST", "/api/v1/rooms/w/stage/invitations", hostTok, map[string]any{"identity": "ann"})
	if p := perms(t, in.body["permissions"]); !p.Has(access.Publish|access.Subscribe) || p.Has(access.Moderate) || in.str("tier") != "hd" {
		t.Fatalf("invitation: %s", in.raw)
	}
	if ev := ann.next("invited"); ev["invitation"] == nil {
		t.Fatalf("ann: %v", ev)
	}
	studio.next("invited")
	acc := ann.request(map[string]any{"type": "stage_accept"})
	stage, _ := acc["stage"].(map[string]any)
	if acc["type"] != "ok" || stage == nil || stage["token"] == "" {
		t.Fatalf("accept: %v", acc)
	}
	stageTok := stage["token"].(string)
	studio.next("guest_joined")

	guest := dialRoom(t, a, "w", stageTok)
	guest.next("welcome")
	guest.publish("camera", "microphone")
	hostRoom.waitMedia("camera", "microphone")

	// bob saw nothing of ann's: his next event is his own.
	bob.send(map[string]any{"type": "hand_raise"})
	if ev := bob.next("stage_event"); ev["identity"] != "bob" {
		t.Fatalf("bob got another's event: %v", ev)
	}

	a.must(http.StatusNoContent, "DELETE", "/api/v1/rooms/w/stage/guests/ann", hostTok, nil)
	if ev := ann.next("guest_left"); ev["reason"] == "" {
		t.Fatalf("ann: %v", ev)
	}
	waitSocketClosed(t, guest)
	if _, err := dialRoomErr(t, a, "w", stageTok); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("the revoked stage token opened a room websocket: %v", err)
	}
	if r := a.do("POST", "/whip/w", stageTok, "v=0"); r.status != 401 || r.code() != "token_revoked" {
		t.Fatalf("WHIP with the revoked stage token: %d %s", r.status, r.raw)
	}
	if r := a.do("DELETE", "/api/v1/rooms/w/stage/guests/ann", hostTok, nil); r.status != 404 || r.code() != "stage_not_on_stage" {
		t.Fatalf("ending twice: %d %s", r.status, r.raw)
	}
}

// newStageRoom makes webinar room w with a host's stage socket open.
func newStageRoom(t *testing.T) (*testAPI, string, *stageClient) {
	t.Helper()
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "w", "name": "W", "mode": "webinar"})
	hostTok := a.tokenFor("host", "w", access.Host)
	studio := dialStage(t, a.url, "w", hostTok)
	studio.next("stage_welcome")
	return a, hostTok, studio
}

// TestStageLimits: the cap on guests, raising too often, a dismissed hand,
// and leaving (closing the socket) lowers the hand.
func TestStageLimits(t *testing.T) {
	a, _, studio := newStageRoom(t)
	var viewers []*stageClient
	for _, id := range []string{"v1", "v2", "v3", "v4", "v5"} {
		v := dialStage(t, a.url, "w", a.tokenFor(id, "w", access.Viewer))
		v.next("stage_welcome")
		v.request(map[string]any{"type": "hand_raise"})
		viewers = append(viewers, v)
	}
	for _, id := range []string{"v1", "v2", "v3", "v4"} {
		if r := studio.request(map[string]any{"type": "stage_invite", "identity": id}); r["type"] != "ok" {
			t.Fatalf("invite %s: %v", id, r)
		}
	}
	if r := studio.request(map[string]any{"type": "stage_invite", "identity": "v5"}); r["code"] != "stage_full" {
		t.Fatalf("a fifth guest with the default cap of 4: %v", r)
	}
	if r := studio.request(map[string]any{"type": "stage_dismiss", "identity": "v5"}); r["type"] != "ok" {
		t.Fatalf("dismiss: %v", r)
	}
	viewers[4].next("hand_dismissed")
	v5 := viewers[4]
	var limited map[string]any
	for range 4 {
		if r := v5.request(map[string]any{"type": "hand_raise"}); r["type"] == "error" {
			limited = r
			break
		}
		v5.request(map[string]any{"type": "hand_lower"})
	}
	if limited == nil || limited["code"] != "stage_rate_limited" {
		t.Fatalf("raising often: %v, want stage_rate_limited", limited)
	}
	// v1 leaves: its invitation goes, and a place frees up.
	viewers[0].conn.Close(websocket.StatusNormalClosure, "bye")
	if ev := studio.next("invitation_declined"); ev["identity"] != "v1" {
		t.Fatalf("studio: %v", ev)
	}
	st := a.must(http.StatusOK, "GET", "/api/v1/rooms/w/stage", a.adminKey, nil)
	if got := len(st.body["invitations"].([]any)); got != 3 {
		t.Fatalf("invitations after v1 left: %d, want 3: %s", got, st.raw)
	}
}

// TestStageGuestLeaves: a guest leaves the stage itself (stage_leave), and
// a guest whose stage socket closes (the page closed) is taken off the stage
// too; either way its stage token stops working.
func TestStageGuestLeaves(t *testing.T) {
	a, hostTok, studio := newStageRoom(t)
	onStage := func(id string) (*stageClient, *wsClient, string) {
		v := dialStage(t, a.url, "w", a.tokenFor(id, "w", access.Viewer))
		v.next("stage_welcome")
		v.request(map[string]any{"type": "hand_raise"})
		a.must(http.StatusCreated, "POST", "/api/v1/rooms/w/stage/invitations", hostTok, map[string]any{"identity": id})
		tok := v.request(map[string]any{"type": "stage_accept"})["stage"].(map[string]any)["token"].(string)
		g := dialRoom(t, a, "w", tok)
		g.next("welcome")
		return v, g, tok
	}
	v, g, tok := onStage("ann")
	if r := v.request(map[string]any{"type": "stage_leave"}); r["type"] != "ok" {
		t.Fatalf("leave: %v", r)
	}
	if ev := studio.next("guest_left"); ev["identity"] != "ann" {
		t.Fatalf("studio: %v", ev)
	}
	waitSocketClosed(t, g)
	if _, err := dialRoomErr(t, a, "w", tok); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("the stage token after leaving: %v", err)
	}

	v, g, tok = onStage("bob")
	v.conn.Close(1000, "page closed")
	if ev := studio.next("guest_left"); ev["identity"] != "bob" {
		t.Fatalf("studio: %v", ev)
	}
	waitSocketClosed(t, g)
	if _, err := dialRoomErr(t, a, "w", tok); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("the stage token after the page closed: %v", err)
	}
}

// TestStageEventsReachTheHook: Deps.OnStageEvent (the webhooks) gets every
// change of a turn, in order.
func TestStageEventsReachTheHook(t *testing.T) {
	var mu sync.Mutex
	var got []string
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()}, func(d *Deps) {
		d.OnStageEvent = func(ev rooms.StageEvent) {
			mu.Lock()
			got = append(got, ev.Type+":"+ev.Identity)
			mu.Unlock()
		}
	})
	a.createRoom(map[string]any{"id": "w", "name": "W", "mode": "webinar"})
	hostTok := a.tokenFor("host", "w", access.Host)
	v := dialStage(t, a.url, "w", a.tokenFor("ann", "w", access.Viewer))
	v.next("stage_welcome")
	v.request(map[string]any{"type": "hand_raise"})
	a.must(http.StatusCreated, "POST", "/api/v1/rooms/w/stage/invitations", hostTok, map[string]any{"identity": "ann"})
	v.request(map[string]any{"type": "stage_accept"})
	a.must(http.StatusNoContent, "DELETE", "/api/v1/rooms/w/stage/guests/ann", hostTok, nil)
	want := []string{"hand_raised:ann", "invited:ann", "guest_joined:ann", "guest_left:ann"}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) {
		t.Fatalf("hook got %v, want %v", got, want)
	}
}
