package api

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/hls/hlstest"
	"lectern/sfu"
	"lectern/storage/storagetest"
)

// TestClusterPassesLiveChangesToTheRoomsNode revokes a live publisher's
// publish permission through node 2 while the room lives on node 1: node 2
// checks the credentials and passes the change to node 1, where it takes
// effect (the WHIP session ends).
func TestClusterPassesLiveChangesToTheRoomsNode(t *testing.T) {
	dbURL := storagetest.PostgresURL(t)
	n1 := newClusterNode(t, dbURL, "node-1")
	n2 := newClusterNode(t, dbURL, "node-2")
	n1.createRoom(map[string]any{"id": "x", "name": "X"})
	n1.must(http.StatusCreated, "POST", "/api/v1/rooms/x/members", n1.adminKey, map[string]any{"identity": "alice", "preset": "host"})
	startWHIP(t, n1.testAPI, "x", n1.tokenFor("alice", "x", access.Host), webrtc.MimeTypeVP8, 1)
	placedOn(t, n1.db, "x", "node-1")
	alice := func() access.Permissions {
		room, ok := n1.media.LiveRoom("x")
		if !ok {
			t.Fatal("room x is not live on node 1")
		}
		for _, p := range room.Participants() {
			if p.Identity() == "alice" {
				return p.Permissions()
			}
		}
		t.Fatal("alice is not in room x on node 1")
		return access.Permissions(0)
	}
	if !alice().Has(access.Publish) {
		t.Fatal("alice cannot publish before the change")
	}
	// Who is in the room, asked of node 2, is node 1's answer.
	ps := n2.must(http.StatusOK, "GET", "/api/v1/rooms/x/participants", n1.adminKey, nil)
	if list, _ := ps.body["participants"].([]any); len(list) != 1 || list[0].(map[string]any)["identity"] != "alice" {
		t.Errorf("participants through node 2: %s", ps.raw)
	}
	// So is the list of live rooms: node 2 asks node 1.
	lv := n2.must(http.StatusOK, "GET", "/api/v1/live", n1.adminKey, nil)
	if rooms, _ := lv.body["rooms"].([]any); len(rooms) != 1 || rooms[0].(map[string]any)["id"] != "x" || lv.body["unreachable"] != nil {
		t.Errorf("live rooms through node 2: %s", lv.raw)
	}

	// Without credentials node 2 answers itself.
	if r := n2.do("PATCH", "/api/v1/rooms/x/members/alice", "", map[string]any{"permissions": map[string]bool{"publish": false}}); r.status != http.StatusUnauthorized {
		t.Errorf("PATCH without a key on node 2: %d %s", r.status, r.raw)
	}
	if !alice().Has(access.Publish) {
		t.Error("a refused change took effect")
	}
	up := n2.must(http.StatusOK, "PATCH", "/api/v1/rooms/x/members/alice", n1.adminKey, map[string]any{"permissions": map[string]bool{"publish": false}})
	if perms(t, up.body["permissions"]).Has(access.Publish) {
		t.Errorf("member after the change: %s", up.raw)
	}
	// Her WHIP session ends: it may not publish any more.
	eventually(t, 10*time.Second, "alice's WHIP session on node 1 ends", func() bool {
		room, ok := n1.media.LiveRoom("x")
		return !ok || !slices.ContainsFunc(room.Participants(), func(p *sfu.Participant) bool { return p.Identity() == "alice" })
	})
	if _, ok := n2.media.LiveRoom("x"); ok {
		t.Error("room x is live on node 2 too")
	}

	// Node 1 dies: until its heartbeat is old, node 2 cannot pass changes on
	// and says so; then the room is no node's and node 2 serves the change.
	n1.kill()
	r := n2.do("PATCH", "/api/v1/rooms/x/members/alice", n1.adminKey, map[string]any{"permissions": map[string]bool{"publish": true}})
	switch {
	case r.status == http.StatusBadGateway && r.code() == codeNodeUnreachable:
	case r.status == http.StatusOK:
		t.Log("node 1 was judged dead before the request: node 2 served it")
	default:
		t.Errorf("PATCH with node 1 dead: %d %s, want 502 %s", r.status, r.raw, codeNodeUnreachable)
	}
	// Once node 1 is judged dead (and node 2's one-second owner cache has
	// expired) node 2 serves the change itself.
	eventually(t, 10*time.Second, "node 2 serves the change", func() bool {
		r := n2.do("PATCH", "/api/v1/rooms/x/members/alice", n1.adminKey, map[string]any{"permissions": map[string]bool{"publish": true}})
		if r.status != http.StatusOK && r.code() != codeNodeUnreachable {
			t.Fatalf("PATCH with node 1 dead: %d %s", r.status, r.raw)
		}
		return r.status == http.StatusOK
	})
}

// TestClusterBroadcastRoomAndFencing: a broadcast room has an idle program
// on every node (StartBroadcasts), which must not make a node think the room
// lives there; and a node judged dead while its heartbeat stalled, whose room
// was placed on another node meanwhile, ends its copy of the room when its
// heartbeat returns, so the room is not split.
func TestClusterBroadcastRoomAndFencing(t *testing.T) {
	dbURL := storagetest.PostgresURL(t)
	n1 := newClusterNode(t, dbURL, "node-1")
	n2 := newClusterNode(t, dbURL, "node-2")
	n1.createRoom(map[string]any{"id": "x", "name": "X", "broadcast": map[string]any{"hls": true}})
	for _, n := range []*clusterNode{n1, n2} {
		if err := n.srv.StartBroadcasts(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, ok := n.media.LiveRoom("x"); !ok {
			t.Fatalf("%s: no idle program holds room x open", n.node.ID())
		}
	}
	startWHIP(t, n1.testAPI, "x", n1.tokenFor("host", "x", access.Member), webrtc.MimeTypeH264, 1)
	placedOn(t, n1.db, "x", "node-1")
	if got := redirected(t, "POST", n2.url+"/whep/x"); got != n1.url+"/whep/x" {
		t.Errorf("WHEP for x on node 2: Location %q, want node 1", got)
	}

	// Node 1 stalls; a viewer arriving meanwhile places x on node 2.
	n1.pause()
	judgedDead(t, n2, "x", "node-1")
	viewer := startWHEP(t, n2.testAPI, "x", n2.tokenFor("viewer", "x", access.Viewer))
	placedOn(t, n2.db, "x", "node-2")
	if !n1.media.HasMedia("x") {
		t.Fatal("node 1 lost its publisher while stalled")
	}
	// Its heartbeat returns: node 1 ends its copy of x; the publisher,
	// joining again through node 1, is sent to node 2 and reaches the viewer.
	n1.resume()
	eventually(t, 10*time.Second, "node 1 ending its copy of room x", func() bool { return !n1.media.HasMedia("x") })
	if got := redirected(t, "POST", n1.url+"/whip/x"); got != n2.url+"/whip/x" {
		t.Errorf("WHIP for x on node 1 after the fence: Location %q, want node 2", got)
	}
	startWHIP(t, n1.testAPI, "x", n1.tokenFor("host", "x", access.Member), webrtc.MimeTypeH264, 2)
	viewer.waitMedia(webrtc.MimeTypeH264, 2)
}

// TestClusterFailoverKeepsBroadcast: a broadcast room created through node 1
// (so only node 1 applied its settings) lives on node 1; node 1 dies; the
// publisher joining again through node 2 goes live over HLS there, because a
// node applies a room's stored broadcast settings when a session starts.
func TestClusterFailoverKeepsBroadcast(t *testing.T) {
	clip := hlstest.NewClip(t, 640, 360, 2, "cam")
	dbURL := storagetest.PostgresURL(t)
	n1 := newClusterNode(t, dbURL, "node-1")
	n2 := newClusterNode(t, dbURL, "node-2")
	n1.createRoom(map[string]any{"id": "x", "name": "X", "mode": "webinar", "broadcast": map[string]any{"hls": true}})
	publish := func(n *clusterNode) {
		host := dialRoom(t, n.testAPI, "x", n.tokenFor("host", "x", access.Host))
		host.next("welcome")
		hlstest.Publish(t, wsSignal(host), hlstest.Track{Source: "camera", Clip: clip})
	}
	publish(n1)
	n1.waitLive("x")

	n1.kill()
	judgedDead(t, n2, "x", "node-1")
	publish(n2)
	placedOn(t, n2.db, "x", "node-2")
	n2.waitLive("x")
}
