package api

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"lectern/access"
	"lectern/cascade"
	"lectern/cluster"
	"lectern/internal/peertest"
	"lectern/sfu"
	"lectern/storage/storagetest"
)

// edgeNode is a cluster node whose WHEP viewers of other nodes' rooms are
// served here from a cascade edge.
type edgeNode struct {
	*testAPI
	edges *cascade.Edges
	kill  func()
}

func newEdgeNode(t *testing.T, databaseURL, id string) *edgeNode {
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
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
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
	// Lenient liveness: these tests lose nodes by closing them, never by
	// judging them dead, and a loaded machine must not fence a node mid-test.
	node, err := cluster.New(cluster.Config{NodeID: id, URL: url, Interval: 250 * time.Millisecond, DeadAfter: 10 * time.Second}, db,
		func() cluster.Load {
			return cluster.Load{Rooms: len(media.MediaRooms()), Participants: media.Stats().Participants}
		}, media.HasMedia, log)
	if err != nil {
		t.Fatal(err)
	}
	node.Fence(media.MediaRooms, func(room string) { media.EndRoom(room, RoomMovedReason) })
	if err := node.Register(t.Context()); err != nil {
		t.Fatal(err)
	}
	edges, err := cascade.New(cascade.Config{Token: cascade.Credential(issuer), Loopback: true}, media, log)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(DefaultConfig(), Deps{DB: db, Issuer: issuer, Registry: prometheus.NewRegistry(), Log: log, SFU: media,
		Chat: hub, Placer: node.HTTP(), Cascade: edges})
	if err != nil {
		t.Fatal(err)
	}
	hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: srv.Handler()}}
	hs.Start()
	runCtx, stop := context.WithCancel(context.Background())
	beating := make(chan struct{})
	go func() {
		defer close(beating)
		node.Run(runCtx)
	}()
	stopBeat := func() { stop(); <-beating }
	kill := sync.OnceFunc(func() {
		stopBeat()
		hs.CloseClientConnections()
		hs.Close()
		srv.Close()
		edges.Close()
		media.Close()
	})
	t.Cleanup(kill)
	return &edgeNode{testAPI: &testAPI{t: t, url: url, adminKey: key, issuer: issuer, db: db, srv: srv, media: media},
		edges: edges, kill: kill}
}

// simulcastWHIP publishes three VP8 layers q, h, f and Opus over WHIP. Each
// video payload ends with its layer's index; every layer sends a keyframe
// every keyEvery packets while keys is set. plis counts the PLIs the
// publisher receives per layer.
type simulcastWHIP struct {
	*whipPeer
	layers       []*webrtc.TrackLocalStaticRTP
	midID, ridID uint8
	keys         atomic.Bool
	plis         [3]atomic.Int64
}

func startSimulcastWHIP(t *testing.T, base, room, token string) *simulcastWHIP {
	t.Helper()
	w := &simulcastWHIP{whipPeer: &whipPeer{t: t, base: base, token: token, pc: peertest.NewPeer(t, nil, webrtc.Configuration{})}}
	for _, rid := range []string{"q", "h", "f"} {
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "cam", "pub", webrtc.WithRTPStreamID(rid))
		if err != nil {
			t.Fatal(err)
		}
		w.layers = append(w.layers, tr)
	}
	sender, err := w.pc.AddTrack(w.layers[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range w.layers[1:] {
		if err := sender.AddEncoding(l); err != nil {
			t.Fatal(err)
		}
	}
	audio, _ := peertest.SendTrack(t, w.pc, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "mic", "pub")
	w.post("/whip/" + room)
	w.midID, w.ridID = peertest.ExtensionID(sender, sdp.SDESMidURI), peertest.ExtensionID(sender, sdp.SDESRTPStreamIDURI)
	for li, tr := range w.layers {
		go func() {
			for {
				pkts, _, err := sender.ReadSimulcastRTCP(tr.RID())
				if err != nil {
					return
				}
				for _, p := range pkts {
					if _, ok := p.(*rtcp.PictureLossIndication); ok {
						w.plis[li].Add(1)
					}
				}
			}
		}()
	}
	w.keys.Store(true)
	peertest.Pump(t, 5*time.Millisecond, func(i int) {
		for li, tr := range w.layers {
			payload := []byte{0x10, 0x01, 0, byte(li)}
			if w.keys.Load() && i%20 == 0 {
				payload = []byte{0x10, 0x00, 0x9d, byte(li)}
			}
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(i), Timestamp: uint32(i) * 450}, Payload: payload}
			pkt.Header.SetExtension(w.midID, []byte("0"))
			pkt.Header.SetExtension(w.ridID, []byte(tr.RID()))
			tr.WriteRTP(pkt)
		}
		audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 240}, Payload: []byte{0xfc, 0xff, 9}})
	})
	return w
}

// startWHEPAt is startWHEP on a node's URL with a query (a layer pin).
func startWHEPAt(t *testing.T, a *testAPI, room, token, query string) *whepViewer {
	t.Helper()
	v := &whepViewer{whipPeer: &whipPeer{t: t, base: a.url, token: token, pc: peertest.NewPeer(t, nil, webrtc.Configuration{})},
		kinds: map[string]*received{}, more: make(chan struct{}, 1)}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := v.pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	peertest.ReadTracks(t, v.pc, v.read)
	status, h, body := httpDo(t, "POST", a.url+"/whep/"+room+query, token, "application/sdp", peertest.Offer(t, v.pc))
	if status != http.StatusCreated || !strings.HasPrefix(h.Get("Location"), "/whep/"+room+"/") {
		t.Fatalf("POST /whep/%s%s on %s: %d %v %s", room, query, a.url, status, h, body)
	}
	v.location, v.etag, v.answer = h.Get("Location"), h.Get("ETag"), body
	peertest.Accept(t, v.pc, body)
	return v
}

// waitLayerOf waits until the viewer's video comes from layer li (its
// payloads' last byte) and more of it keeps coming.
func (v *whepViewer) waitLayerOf(li byte) {
	v.t.Helper()
	var base int
	v.waitFor("video of layer "+string('0'+li), func(video, audio received) bool {
		if video.mark != li {
			base = video.packets
			return false
		}
		return video.packets > base+20 && audio.packets > 20
	})
}

// pulls returns the identities of the owner's WHEP viewers that are cascade
// pulls, sorted.
func pulls(a *testAPI, room string) []string {
	r, ok := a.media.LiveRoom(room)
	if !ok {
		return nil
	}
	var out []string
	for _, p := range r.Participants() {
		if strings.HasPrefix(p.Identity(), "cascade-") {
			id := p.Identity()
			out = append(out, id[strings.LastIndex(id, "-")+1:]+"@"+id[len("cascade-"):strings.LastIndex(id, "-")])
		}
	}
	slices.Sort(out)
	return out
}

// waitPulls waits until the owner's pulls are, per edge, exactly the layers
// want says (a sorted list of layer names per edge, edges in any order).
func waitPulls(t *testing.T, a *testAPI, room string, want ...string) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := pulls(a, room)
		perEdge := map[string][]string{}
		for _, g := range got {
			layer, edge, _ := strings.Cut(g, "@")
			perEdge[edge] = append(perEdge[edge], layer)
		}
		var sets []string
		for _, ls := range perEdge {
			slices.Sort(ls)
			sets = append(sets, strings.Join(ls, ","))
		}
		slices.Sort(sets)
		w := slices.Clone(want)
		slices.Sort(w)
		if slices.Equal(sets, w) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("pulls at the owner: %v, want per edge %v", got, want)
		}
		time.Sleep(50 * time.Millisecond) // polling the owner's participants
	}
}

// TestCascadeWHEP: a simulcast publisher on node A; WHEP viewers on B and C
// are served by edges there, which pull each watched layer once from A. A
// viewer pinned to a layer gets it; a PLI from an edge's viewer reaches the
// publisher; an edge whose node goes away leaves the other edge's viewers
// playing, and its viewers play again through another node; an edge whose
// last viewer leaves ends its pulls.
func TestCascadeWHEP(t *testing.T) {
	dbURL := storagetest.PostgresURL(t)
	a := newEdgeNode(t, dbURL, "node-a")
	b := newEdgeNode(t, dbURL, "node-b")
	c := newEdgeNode(t, dbURL, "node-c")
	a.createRoom(map[string]any{"id": "talk", "name": "Talk"})
	pub := startSimulcastWHIP(t, a.url, "talk", a.tokenFor("host", "talk", access.Member))
	placedOn(t, a.db, "talk", "node-a")
	a.waitTracks("talk", 2)

	// Webhooks see participants join: on A the publisher, not the edges'
	// pulls; on B the viewers B serves, not its relay.
	joinedOn := func(n *edgeNode) func() []string {
		var mu sync.Mutex
		var ids []string
		cancel := n.media.Watch(func(ev sfu.Event) {
			if ev.Type == sfu.EventParticipantJoined && ev.Participant != nil && ev.Room == "talk" {
				mu.Lock()
				ids = append(ids, ev.Participant.Identity)
				mu.Unlock()
			}
		})
		t.Cleanup(cancel)
		return func() []string {
			mu.Lock()
			defer mu.Unlock()
			return slices.Sorted(slices.Values(ids))
		}
	}
	joinedA, joinedB := joinedOn(a), joinedOn(b)

	// Viewers on B and C are answered there (201, no redirect) from edges.
	b1 := startWHEPAt(t, b.testAPI, "talk", b.tokenFor("b1", "talk", access.Viewer), "")
	bq := startWHEPAt(t, b.testAPI, "talk", b.tokenFor("bq", "talk", access.Viewer), "?layer=q")
	c1 := startWHEPAt(t, c.testAPI, "talk", c.tokenFor("c1", "talk", access.Viewer), "")
	c2 := startWHEPAt(t, c.testAPI, "talk", c.tokenFor("c2", "talk", access.Viewer), "")
	b1.waitLayerOf(2)
	bq.waitLayerOf(0)
	c1.waitLayerOf(2)
	c2.waitLayerOf(2)
	if _, ok := b.media.LiveRoom("talk"); ok || b.media.HasMedia("talk") {
		t.Error("the edge room on B is taken for the room itself")
	}

	// A sends each watched layer once per edge: B's viewers watch q and f,
	// C's f (q always stays); h, watched by no one, is dropped.
	got := waitPulls(t, a.testAPI, "talk", "f,q", "f,q")
	t.Logf("pulls at A: %v", got)
	if ids := joinedA(); len(ids) != 0 {
		t.Errorf("watchers on A saw %v join, want none (the publisher joined before; pulls are not reported)", ids)
	}
	if ids := joinedB(); !slices.Equal(ids, []string{"b1", "bq"}) {
		t.Errorf("watchers on B saw %v join, want the viewers b1 and bq", ids)
	}

	// A keyframe request of a viewer on B reaches the publisher.
	pub.keys.Store(false)
	before := pub.plis[2].Load()
	video := b1.pc.GetReceivers()[0].Track()
	deadline := time.Now().Add(10 * time.Second)
	for pub.plis[2].Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("a PLI from a viewer on B did not reach the publisher's top layer")
		}
		b1.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(video.SSRC())}})
		time.Sleep(100 * time.Millisecond) // the next PLI, as a player would send one
	}
	pub.keys.Store(true)

	// Node B goes away: C's viewers keep playing; a viewer of B connects
	// through C and plays within seconds.
	b.kill()
	lost := time.Now()
	c1.waitLayerOf(2)
	again := startWHEPAt(t, c.testAPI, "talk", c.tokenFor("b1", "talk", access.Viewer), "")
	again.waitLayerOf(2)
	t.Logf("a viewer of the lost edge played again through C %v after B went away", time.Since(lost).Round(time.Millisecond))
	c2.waitLayerOf(2)
	waitPulls(t, a.testAPI, "talk", "f,q")

	// C's viewers leave: the edge ends its pulls at A.
	for _, v := range []*whepViewer{c1, c2, again} {
		if status, _ := v.do("DELETE", "", ""); status != http.StatusOK {
			t.Fatalf("DELETE on C: %d", status)
		}
	}
	waitPulls(t, a.testAPI, "talk")
	deadline = time.Now().Add(10 * time.Second)
	for len(c.edges.Rooms()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("C still has edges %v", c.edges.Rooms())
		}
		time.Sleep(20 * time.Millisecond) // polling the edge's end
	}
}

// TestCascadeRefusals: a WHEP layer that is no layer name is refused before
// the room sees the client; a pull from another node's edge (marked with
// the cascade header) is redirected, not served from an edge (edges do not
// chain); with the cascade off, viewers are redirected as before.
func TestCascadeRefusals(t *testing.T) {
	dbURL := storagetest.PostgresURL(t)
	a := newEdgeNode(t, dbURL, "node-a")
	b := newEdgeNode(t, dbURL, "node-b")
	plain := newClusterNode(t, dbURL, "node-p")
	a.createRoom(map[string]any{"id": "talk", "name": "Talk"})
	startWHEPAt(t, a.testAPI, "talk", a.tokenFor("first", "talk", access.Viewer), "")
	placedOn(t, a.db, "talk", "node-a")

	offer := offerOf(t, webrtc.MimeTypeVP8, webrtc.RTPTransceiverDirectionRecvonly)
	status, _, body := httpDo(t, "POST", b.url+"/whep/talk?layer=xl", b.tokenFor("v", "talk", access.Viewer), "application/sdp", offer)
	if status != http.StatusBadRequest || !strings.Contains(body, "invalid_layer") {
		t.Errorf("?layer=xl on B: %d %s, want 400 invalid_layer", status, body)
	}
	if len(b.edges.Rooms()) != 0 {
		t.Errorf("a refused viewer started edges %v", b.edges.Rooms())
	}

	req, err := http.NewRequestWithContext(t.Context(), "POST", b.url+"/whep/talk", strings.NewReader(offer))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+b.tokenFor("v", "talk", access.Viewer))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set(cascade.Header, "1")
	res, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTemporaryRedirect || res.Header.Get("Location") != a.url+"/whep/talk" {
		t.Errorf("a pull marked as cascade on B: %d to %q, want 307 to A", res.StatusCode, res.Header.Get("Location"))
	}
	if got := redirected(t, "POST", plain.url+"/whep/talk"); got != a.url+"/whep/talk" {
		t.Errorf("without a cascade: redirected to %q", got)
	}
}

// TestCascadeOwnerEnds: when the room's node goes away, the edge ends and
// closes its viewers' sessions, so that they connect again.
func TestCascadeOwnerEnds(t *testing.T) {
	dbURL := storagetest.PostgresURL(t)
	a := newEdgeNode(t, dbURL, "node-a")
	b := newEdgeNode(t, dbURL, "node-b")
	a.createRoom(map[string]any{"id": "talk", "name": "Talk"})
	startSimulcastWHIP(t, a.url, "talk", a.tokenFor("host", "talk", access.Member))
	placedOn(t, a.db, "talk", "node-a")
	a.waitTracks("talk", 2)
	v := startWHEPAt(t, b.testAPI, "talk", b.tokenFor("v", "talk", access.Viewer), "")
	v.waitLayerOf(2)
	b.srv.whip.mu.Lock()
	sessions := len(b.srv.whip.m)
	b.srv.whip.mu.Unlock()
	if sessions != 1 {
		t.Fatalf("B holds %d WHEP sessions, want 1", sessions)
	}
	a.kill()
	lost := time.Now()
	deadline := lost.Add(15 * time.Second)
	for {
		b.srv.whip.mu.Lock()
		n := len(b.srv.whip.m)
		b.srv.whip.mu.Unlock()
		if n == 0 && len(b.edges.Rooms()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after A went away B still holds %d sessions and edges %v", n, b.edges.Rooms())
		}
		time.Sleep(20 * time.Millisecond) // polling B's sessions
	}
	t.Logf("B's edge ended and closed its viewer %v after A went away", time.Since(lost).Round(time.Millisecond))
	// The session is gone from B: a DELETE is no longer answered there.
	if res := sendNoFollow(t, "DELETE", b.url+v.location); res.StatusCode != http.StatusTemporaryRedirect && res.StatusCode != http.StatusUnauthorized {
		t.Errorf("DELETE of the ended session on B: %d", res.StatusCode)
	}
}

// TestCascadeSingleLayer: a publisher without simulcast (a WHIP encoder)
// reaches an edge's viewer with its video and audio; the edge stops asking
// the owner for layers it does not have, keeping the one pull.
func TestCascadeSingleLayer(t *testing.T) {
	dbURL := storagetest.PostgresURL(t)
	a := newEdgeNode(t, dbURL, "node-a")
	b := newEdgeNode(t, dbURL, "node-b")
	a.createRoom(map[string]any{"id": "talk", "name": "Talk"})
	startWHIP(t, a.testAPI, "talk", a.tokenFor("encoder", "talk", access.Member), webrtc.MimeTypeVP8, 5)
	placedOn(t, a.db, "talk", "node-a")
	a.waitTracks("talk", 2)
	v := startWHEPAt(t, b.testAPI, "talk", b.tokenFor("v", "talk", access.Viewer), "")
	v.waitMedia(webrtc.MimeTypeVP8, 5)
	waitPulls(t, a.testAPI, "talk", "q")
	v.waitMedia(webrtc.MimeTypeVP8, 5)
}

// TestCascadeAppRoom: a room of an app other than the default is pulled with
// a node credential of its app, and its viewer on another node plays.
func TestCascadeAppRoom(t *testing.T) {
	dbURL := storagetest.PostgresURL(t)
	a := newEdgeNode(t, dbURL, "node-a")
	b := newEdgeNode(t, dbURL, "node-b")
	a.must(http.StatusCreated, "POST", "/api/v1/apps", a.adminKey, map[string]any{"id": "acme", "name": "Acme"})
	key := a.must(http.StatusCreated, "POST", "/api/v1/apps/acme/keys", a.adminKey, map[string]any{}).str("key")
	a.must(http.StatusCreated, "POST", "/api/v1/rooms", key, map[string]any{"id": "talk", "name": "Talk"})
	token := func(identity, preset string) string {
		return a.must(http.StatusCreated, "POST", "/api/v1/tokens", key, map[string]any{"identity": identity,
			"rooms": map[string]any{"talk": map[string]any{"preset": preset}}}).str("token")
	}
	// The URLs the server hands out name the room by its key.
	startWHIP(t, a.testAPI, "acme~talk", token("encoder", "host"), webrtc.MimeTypeVP8, 6)
	placedOn(t, a.db, "acme~talk", "node-a")
	a.waitTracks("acme~talk", 2)
	v := startWHEPAt(t, b.testAPI, "acme~talk", token("viewer", "viewer"), "")
	v.waitMedia(webrtc.MimeTypeVP8, 6)
	if got := pulls(a.testAPI, "acme~talk"); len(got) == 0 {
		t.Errorf("the viewer on B was not served from an edge (no pulls at A)")
	}
}
