package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"lectern/storage"
	"lectern/storage/storagetest"
)

const clusterAdminKey = "cluster-test-admin-key"

// node is one run() in-process: stop is SIGTERM; done is closed when run
// has returned err.
type node struct {
	url  string
	stop context.CancelFunc
	done chan struct{}
	err  error
}

// startNode runs run() in-process as one cluster node until the test ends.
func startNode(t *testing.T, dbURL, id string) *node {
	t.Helper()
	env := withFreePorts(map[string]string{"LECTERN_DATA_DIR": t.TempDir(), "LECTERN_DATABASE_URL": dbURL,
		"LECTERN_CLUSTER": "true", "LECTERN_NODE_ID": id, "LECTERN_CLUSTER_HEARTBEAT": "200ms",
		"LECTERN_DRAIN_TIMEOUT": "30s", "LECTERN_ADMIN_KEY": clusterAdminKey})
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{stop: cancel, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		defer close(n.done)
		n.err = run(ctx, nil, envOf(env), io.Discard, io.Discard, ready)
	}()
	t.Cleanup(func() {
		cancel()
		<-n.done
	})
	select {
	case n.url = <-ready:
	case <-n.done:
		t.Fatalf("run %s: %v", id, n.err)
	}
	return n
}

// roomSocket dials the room websocket and returns the first message.
func roomSocket(t *testing.T, base, room, token string) (*websocket.Conn, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	conn, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/api/v1/rooms/"+room+"/ws?token="+token, nil)
	if err != nil {
		var body []byte
		if res != nil && res.Body != nil {
			body, _ = io.ReadAll(res.Body)
		}
		t.Fatalf("dial %s on %s: %v %s", room, base, err, body)
	}
	t.Cleanup(func() { conn.CloseNow() })
	_, data, err := conn.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return conn, m
}

// TestClusterDrainOnSIGTERM stops a node that holds a live room: it keeps
// serving that room while sending new rooms to the other node, stops once the
// room empties, and leaves the registry, so the room moves at its next join.
func TestClusterDrainOnSIGTERM(t *testing.T) {
	dbURL := storagetest.PostgresURL(t)
	n1 := startNode(t, dbURL, "node-1")
	url1 := n1.url
	for _, room := range []string{"live", "fresh"} {
		if code, body := call(t, "POST", url1+"/api/v1/rooms", clusterAdminKey, `{"id":"`+room+`","name":"R"}`); code != 201 {
			t.Fatalf("create room %s: %d %v", room, code, body)
		}
	}
	_, tok := call(t, "POST", url1+"/api/v1/tokens", clusterAdminKey, `{"identity":"ann","rooms":{"live":{"preset":"member"},"fresh":{"preset":"member"}}}`)
	token, _ := tok["token"].(string)
	if token == "" {
		t.Fatalf("token: %v", tok)
	}
	host, welcome := roomSocket(t, url1, "live", token)
	if welcome["type"] != "welcome" {
		t.Fatalf("node 1: %v", welcome)
	}
	url2 := startNode(t, dbURL, "node-2").url

	db, err := storage.Open(t.Context(), dbURL, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n1.stop() // SIGTERM
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := db.Node(t.Context(), "node-1", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if n.Draining {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node 1 is not marked draining")
		}
		time.Sleep(20 * time.Millisecond) // polling another component's state, bounded by the deadline
	}

	// A new room asked of the draining node goes to node 2.
	_, msg := roomSocket(t, url1, "fresh", token)
	if want := "ws" + strings.TrimPrefix(url2, "http") + "/api/v1/rooms/fresh/ws?token="; msg["type"] != "redirect" || !strings.HasPrefix(msg["url"].(string), want) {
		t.Errorf("new room on the draining node: %v, want a redirect to %s...", msg, want)
	}
	select {
	case <-n1.done:
		t.Fatalf("node 1 stopped with a live room: %v", n1.err)
	default:
	}

	// The room empties: node 1 stops and leaves the registry.
	host.Close(websocket.StatusNormalClosure, "bye")
	select {
	case <-n1.done:
		if n1.err != nil {
			t.Fatalf("run: %v", n1.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("node 1 did not stop after its last room emptied")
	}
	if _, err := db.Node(t.Context(), "node-1", time.Minute); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("node 1 after stopping: %v, want it gone from the registry", err)
	}
	if _, msg := roomSocket(t, url2, "live", token); msg["type"] != "welcome" {
		t.Errorf("live room through node 2 after node 1 left: %v", msg)
	}
}

func TestClusterConfig(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LECTERN_CLUSTER": "true"}, "cluster: needs database_url"},
		{map[string]string{"LECTERN_CLUSTER": "yes please"}, "cluster (LECTERN_CLUSTER)"},
		{map[string]string{"LECTERN_CLUSTER": "true", "LECTERN_DATABASE_URL": "postgres://x/y", "LECTERN_NODE_ID": "a b"}, "node_id:"},
		{map[string]string{"LECTERN_CLUSTER": "true", "LECTERN_DATABASE_URL": "postgres://x/y", "LECTERN_CLUSTER_HEARTBEAT": "1ms"}, "cluster_heartbeat:"},
		{map[string]string{"LECTERN_CLUSTER": "true", "LECTERN_DATABASE_URL": "postgres://x/y", "LECTERN_SERVICE_URL": "live.example.com"}, "service_url:"},
		{map[string]string{"LECTERN_CLUSTER": "true", "LECTERN_DATABASE_URL": "postgres://x/y", "LECTERN_INGEST_URL": "http://live.example.com"}, "ingest_url:"},
		{map[string]string{"LECTERN_CLUSTER": "true", "LECTERN_DATABASE_URL": "postgres://x/y", "LECTERN_INGEST_URL": "rtsp://u:p@live.example.com/x"}, "ingest_url:"},
	} {
		if _, err := loadConfig(nil, envOf(tc.env), io.Discard); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error starting %q", tc.env, err, tc.want)
		}
	}

	// Without node_id, a node keeps the ID it generated in its data dir.
	dir := t.TempDir()
	first, err := nodeID("", dir)
	if err != nil || !strings.HasPrefix(first, "node-") {
		t.Fatalf("generated node ID %q, %v", first, err)
	}
	if again, err := nodeID("", dir); again != first || err != nil {
		t.Errorf("second start: %q, %v; want %q", again, err, first)
	}
	if got, _ := nodeID("edge-7", dir); got != "edge-7" {
		t.Errorf("configured node ID: %q", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "node_id"), []byte("not a valid id!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := nodeID("", dir); err == nil {
		t.Error("a garbled node_id file was accepted")
	}
}
