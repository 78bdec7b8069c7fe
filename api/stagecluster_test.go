package api

import (
	"net/http"
	"strings"
	"testing"

	"lectern/access"
	"lectern/storage/storagetest"
)

// dialStageOnAnyNode opens the stage websocket through base and, when that
// node answers with a redirect message (the room lives on another node),
// opens it where the redirect says, as js/stage-socket.js does.
func dialStageOnAnyNode(t *testing.T, base, room, token string) (*stageClient, string) {
	t.Helper()
	c := dialStage(t, base, room, token)
	first := c.next("redirect", "stage_welcome")
	if first["type"] == "stage_welcome" {
		return c, base
	}
	target := first["url"].(string)
	node := "http" + strings.TrimPrefix(target[:strings.Index(target, "/api/")], "ws")
	c = dialStage(t, node, room, token)
	c.next("stage_welcome")
	return c, node
}

// TestClusterStage: a viewer who reached another node than the room's raises
// a hand; the moderator on the room's node sees it, a moderator's invitation
// through the other node reaches the viewer, and the stage token works on
// the room's node.
func TestClusterStage(t *testing.T) {
	dbURL := storagetest.PostgresURL(t)
	n1 := newClusterNode(t, dbURL, "node-1")
	n2 := newClusterNode(t, dbURL, "node-2")
	n1.createRoom(map[string]any{"id": "w", "name": "W", "mode": "webinar"})

	hostTok := n1.tokenFor("host", "w", access.Host)
	studio, hostNode := dialStageOnAnyNode(t, n1.url, "w", hostTok)
	if hostNode != n1.url {
		t.Fatalf("the host's stage socket on %s, want node 1 (%s) where it placed the room", hostNode, n1.url)
	}
	placedOn(t, n1.db, "w", "node-1")

	viewer, viewerNode := dialStageOnAnyNode(t, n2.url, "w", n2.tokenFor("ann", "w", access.Viewer))
	if viewerNode != n1.url {
		t.Fatalf("the viewer's stage socket through node 2 ended on %s, want the room's node %s", viewerNode, n1.url)
	}
	if r := viewer.request(map[string]any{"type": "hand_raise"}); r["type"] != "ok" {
		t.Fatalf("raise: %v", r)
	}
	if ev := studio.next("hand_raised"); ev["identity"] != "ann" {
		t.Fatalf("studio: %v", ev)
	}
	// A moderator's REST call through node 2 runs on node 1.
	if st := n2.must(http.StatusOK, "GET", "/api/v1/rooms/w/stage", hostTok, nil); len(st.body["hands"].([]any)) != 1 {
		t.Fatalf("the stage read through node 2: %s", st.raw)
	}
	n2.must(http.StatusCreated, "POST", "/api/v1/rooms/w/stage/invitations", hostTok, map[string]any{"identity": "ann"})
	viewer.next("invited")
	acc := viewer.request(map[string]any{"type": "stage_accept"})
	stage, _ := acc["stage"].(map[string]any)
	if stage == nil {
		t.Fatalf("accept: %v", acc)
	}
	guest := dialRoom(t, n1.testAPI, "w", stage["token"].(string))
	if w := guest.next("welcome"); !perms(t, w["permissions"]).Has(access.Publish) {
		t.Fatalf("the guest's welcome: %v", w)
	}
	n2.must(http.StatusNoContent, "DELETE", "/api/v1/rooms/w/stage/guests/ann", hostTok, nil)
	viewer.next("guest_left")
	waitSocketClosed(t, guest)
}
