package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"lectern/access"
	"lectern/cluster"
	"lectern/internal/syncbuf"
	"lectern/sfu"
	"lectern/storage"
	"lectern/storage/storagetest"
)

// Heartbeats of test clusters: fast, with room for a busy test machine. A
// node fences itself (ends every session) when its last successful heartbeat
// began more than DeadAfter - Interval/2 ago (cluster/fence.go), so DeadAfter
// must outlast the slowest heartbeat a loaded CI machine's PostgreSQL takes:
// at 1 s, two suites at once fenced a healthy node mid-test.
const (
	testHeartbeat = 200 * time.Millisecond
	testDeadAfter = 3 * time.Second
)

// clusterNode is one node of a test cluster: an API server with its own SFU,
// chat hub and cluster membership, over a database shared with other nodes.
type clusterNode struct {
	*testAPI
	node *cluster.Node
	// kill stops the node without leaving the cluster: its heartbeat stops,
	// its HTTP server and SFU close.
	kill func()
	// pause stops the heartbeat only, as a long stall or a cut from the
	// database would; resume starts it again.
	pause, resume func()
}

func newClusterNode(t *testing.T, databaseURL, id string) *clusterNode {
	t.Helper()
	db := storagetest.Open(t, storagetest.Backend{Name: "postgres", DatabaseURL: databaseURL, DataDir: t.TempDir()})
	key, err := EnsureAdminKey(t.Context(), db, "")
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := access.NewIssuer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of %s:\n%s", id, logs.String())
		}
	})
	media, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", Loopback: true}, log)
	if err != nil {
		t.Fatal(err)
	}
	hub := startChat(t, db, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	node, err := cluster.New(cluster.Config{NodeID: id, URL: url, Interval: testHeartbeat, DeadAfter: testDeadAfter}, db,
		func() cluster.Load {
			return cluster.Load{Rooms: len(media.MediaRooms()), Participants: media.Stats().Participants}
		},
		media.HasMedia, log)
	if err != nil {
		t.Fatal(err)
	}
	node.Fence(media.MediaRooms, func(room string) { media.EndRoom(room, RoomMovedReason) })
	if err := node.Register(t.Context()); err != nil {
		t.Fatal(err)
	}
	beat := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			node.Run(ctx)
		}()
		return func() { cancel(); <-done }
	}
	stopBeating := beat()
	srv, err := New(DefaultConfig(), Deps{DB: db, Issuer: issuer, Registry: prometheus.NewRegistry(), Log: log, SFU: media,
		Chat: hub, Placer: node.HTTP()})
	if err != nil {
		t.Fatal(err)
	}
	hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: srv.Handler()}}
	hs.Start()
	kill := sync.OnceFunc(func() {
		stopBeating()
		hs.CloseClientConnections()
		hs.Close()
		media.Close()
		srv.Close()
	})
	t.Cleanup(kill)
	return &clusterNode{testAPI: &testAPI{t: t, url: url, adminKey: key, issuer: issuer, db: db, srv: srv, media: media},
		node: node, kill: kill, pause: func() { stopBeating() }, resume: func() { stopBeating = beat() }}
}

// noFollow is a client that reports redirects instead of following them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// sendNoFollow sends a request without a body and returns the answer, not
// following a redirect; the body is closed.
func sendNoFollow(t *testing.T, method, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// redirected sends a request that must be redirected and returns Location.
func redirected(t *testing.T, method, url string) string {
	t.Helper()
	res := sendNoFollow(t, method, url)
	if res.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("%s %s: %d, want 307", method, url, res.StatusCode)
	}
	return res.Header.Get("Location")
}

// notRedirected sends a request that the node must answer itself.
func notRedirected(t *testing.T, method, url string) int {
	t.Helper()
	res := sendNoFollow(t, method, url)
	if res.StatusCode == http.StatusTemporaryRedirect {
		t.Fatalf("%s %s: redirected to %s, want an answer here", method, url, res.Header.Get("Location"))
	}
	return res.StatusCode
}

// placedOn waits until room's placement names node (or, with node "", until
// its owner is dead or gone).
func placedOn(t *testing.T, db *storage.DB, room, node string) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		p, err := db.RoomPlacement(t.Context(), room, testDeadAfter)
		switch {
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			t.Fatal(err)
		case node == "" && (err != nil || !p.Node.Live):
			return
		case node != "" && err == nil && p.Node.ID == node && p.Node.Live:
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("room %s: placement %+v (%v), want node %q", room, p, err, node)
		}
	}
}

// judgedDead waits until room's placement on a dead node is gone from the
// database and from observer's own view: observer forgets the owners it
// cached a moment after it marks a node dead, and a join it serves in
// between is still sent to the dead node.
func judgedDead(t *testing.T, observer *clusterNode, room, dead string) {
	t.Helper()
	placedOn(t, observer.db, room, "")
	eventually(t, 10*time.Second, "node "+observer.node.ID()+" forgetting "+dead+" as the owner of "+room, func() bool {
		o, err := observer.node.Lookup(t.Context(), room)
		return err == nil && o.NodeID != dead
	})
}

func TestClusterRedirectsChatAndFailover(t *testing.T) {
	dbURL := storagetest.PostgresURL(t)
	n1 := newClusterNode(t, dbURL, "node-1")
	n2 := newClusterNode(t, dbURL, "node-2")
	n1.createRoom(map[string]any{"id": "x", "name": "X"})

	// A viewer through node 1 places X there (both are idle: the asking node wins).
	viewer := startWHEP(t, n1.testAPI, "x", n1.tokenFor("viewer", "x", access.Viewer))
	placedOn(t, n1.db, "x", "node-1")

	// Node 2 sends WHIP, WHEP and session requests for X to node 1.
	for _, path := range []string{"/whip/x", "/whep/x", "/whip/x/s1", "/api/v1/rooms/x/ws?token=t"} {
		method := "POST"
		if strings.HasSuffix(path, "/ws?token=t") {
			method = "GET"
		} else if strings.HasSuffix(path, "/s1") {
			method = "DELETE"
		}
		if got := redirected(t, method, n2.url+path); got != n1.url+path {
			t.Errorf("%s %s on node 2: Location %q, want %q", method, path, got, n1.url+path)
		}
	}
	// HLS is passed to node 1 and answered by node 2: players keep the URL
	// they were given, which must outlive any one node.
	if status := notRedirected(t, "GET", n2.url+"/hls/x/index.m3u8"); status != http.StatusUnauthorized {
		t.Errorf("HLS on node 2: %d, want node 1's 401 relayed", status)
	}
	// ... but not the REST API, nor preflights.
	if status := notRedirected(t, "GET", n2.url+"/api/v1/rooms/x"); status != http.StatusUnauthorized {
		t.Errorf("GET room on node 2: %d", status)
	}
	if status := notRedirected(t, "OPTIONS", n2.url+"/whip/x"); status != http.StatusNoContent {
		t.Errorf("OPTIONS on node 2: %d", status)
	}

	// A pion publisher through node 2 follows the redirect; media flows on node 1.
	startWHIP(t, n2.testAPI, "x", n2.tokenFor("host", "x", access.Member), webrtc.MimeTypeVP8, 1)
	viewer.waitMedia(webrtc.MimeTypeVP8, 1)
	if _, ok := n2.media.LiveRoom("x"); ok {
		t.Error("room x is live on node 2 too")
	}

	// The room websocket through node 2 gets a redirect message, then the
	// owner's URL gets the welcome.
	next := socketRedirect(t, n2.url, "x", n2.tokenFor("ws", "x", access.Member))
	if want := "ws" + strings.TrimPrefix(n1.url, "http") + "/api/v1/rooms/x/ws?token="; !strings.HasPrefix(next, want) {
		t.Fatalf("redirect to %q, want %s...", next, want)
	}
	// A page served by node 2 opens it: another origin than node 1's.
	conn, _, err := websocket.Dial(t.Context(), next, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {n2.url}}})
	if err != nil {
		t.Fatal(err)
	}
	if msg := readSocket(t, conn); msg["type"] != "welcome" || len(msg["participants"].([]any)) != 3 {
		t.Errorf("on node 1: %v, want a welcome listing the viewer, the publisher and this client", msg)
	}
	conn.Close(websocket.StatusNormalClosure, "")

	// Chat posted on node 1 arrives live on node 2.
	c2 := dialChat(t, n2.url, "x", n2.tokenFor("reader", "x", access.Member), "")
	c2.ready()
	c1 := dialChat(t, n1.url, "x", n1.tokenFor("writer", "x", access.Member), "")
	c1.ready()
	id := sentID(t, c1.post("1", "hello from node 1", ""))
	if got := c2.eventsUntil(id); got[len(got)-1] != "message:hello from node 1" {
		t.Errorf("node 2 chat got %v", got)
	}

	// Node 1 dies. Once its heartbeat is old, rejoining X places it on node 2.
	n1.kill()
	judgedDead(t, n2, "x", "node-1")
	viewer2 := startWHEP(t, n2.testAPI, "x", n2.tokenFor("viewer2", "x", access.Viewer))
	placedOn(t, n2.db, "x", "node-2")
	startWHIP(t, n2.testAPI, "x", n2.tokenFor("host2", "x", access.Member), webrtc.MimeTypeVP8, 2)
	viewer2.waitMedia(webrtc.MimeTypeVP8, 2)
}

// socketRedirect dials the room websocket and returns the URL of its redirect
// message, checking that the socket then closes with 4307.
func socketRedirect(t *testing.T, base, room, token string) string {
	t.Helper()
	url := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/rooms/" + room + "/ws?token=" + token
	conn, _, err := websocket.Dial(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	msg := readSocket(t, conn)
	if msg["type"] != "redirect" {
		t.Fatalf("first message %v, want a redirect", msg)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, _, err := conn.Read(ctx); websocket.CloseStatus(err) != statusRedirect {
		t.Errorf("after the redirect: %v, want close status %d", err, statusRedirect)
	}
	u, _ := msg["url"].(string)
	return u
}

func readSocket(t *testing.T, conn *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, data, err := conn.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestClusterDrainSendsNewRoomsElsewhere(t *testing.T) {
	dbURL := storagetest.PostgresURL(t)
	n1 := newClusterNode(t, dbURL, "node-1")
	for _, id := range []string{"live", "idle", "fresh"} {
		n1.createRoom(map[string]any{"id": id, "name": id})
	}
	viewer := startWHEP(t, n1.testAPI, "live", n1.tokenFor("viewer", "live", access.Viewer))
	placedOn(t, n1.db, "live", "node-1")
	// Node 1 is alone so far. A request that fails its credentials still
	// places the room: "idle" is placed on node 1 with nothing in it.
	if status := notRedirected(t, "POST", n1.url+"/whip/idle"); status != http.StatusUnauthorized {
		t.Fatalf("POST /whip/idle: %d", status)
	}
	placedOn(t, n1.db, "idle", "node-1")
	n2 := newClusterNode(t, dbURL, "node-2")

	if err := n1.node.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	// New rooms go to node 2, also when asked on the draining node; the idle
	// room placed before the drain was released and goes there too.
	if got := redirected(t, "POST", n1.url+"/whip/fresh"); got != n2.url+"/whip/fresh" {
		t.Errorf("new room on a draining node: Location %q", got)
	}
	placedOn(t, n1.db, "fresh", "node-2")
	if status := notRedirected(t, "POST", n2.url+"/whip/idle"); status != http.StatusUnauthorized {
		t.Errorf("POST /whip/idle on node 2: %d", status)
	}
	placedOn(t, n1.db, "idle", "node-2")

	// The live room stays on the draining node until it empties.
	if got := redirected(t, "POST", n2.url+"/whip/live"); got != n1.url+"/whip/live" {
		t.Errorf("live room: Location %q", got)
	}
	startWHIP(t, n2.testAPI, "live", n2.tokenFor("host", "live", access.Member), webrtc.MimeTypeVP8, 1)
	viewer.waitMedia(webrtc.MimeTypeVP8, 1)
}

// TestClusterBrowserFollowsRedirect has Chromium, on a page served by node 2,
// join a room that lives on node 1 with lectern.js's connect: it follows the
// redirect message and joins on node 1.
func TestClusterBrowserFollowsRedirect(t *testing.T) {
	browser := startChromium(t)
	dbURL := storagetest.PostgresURL(t)
	n1 := newClusterNode(t, dbURL, "node-1")
	n2 := newClusterNode(t, dbURL, "node-2")
	n1.createRoom(map[string]any{"id": "x", "name": "X"})
	startWHEP(t, n1.testAPI, "x", n1.tokenFor("viewer", "x", access.Viewer))
	placedOn(t, n1.db, "x", "node-1")

	p := openPage(t, browser, browserSite(t, n2.testAPI), "guest")
	id := evalJS[string](t, p, "watch", "x", n2.tokenFor("guest", "x", access.Member))
	room, ok := n1.media.LiveRoom("x")
	if !ok {
		t.Fatal("room x is not live on node 1")
	}
	if _, ok := room.Participant(id); !ok {
		t.Errorf("participant %s is not in room x on node 1", id)
	}
	if _, ok := n2.media.LiveRoom("x"); ok {
		t.Error("room x is live on node 2")
	}
	p.checkClean(t)
}
