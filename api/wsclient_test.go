package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/internal/peertest"
)

// wsClient is a test participant: a real websocket to the API and real pion
// peer connections for publishing and subscribing.
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
	in   chan map[string]any
	sub  *webrtc.PeerConnection
	// api makes sub, on the first offer; subRead waits for its readers.
	api     *webrtc.API
	subRead func()

	mu       sync.Mutex
	packets  map[string]int // by source
	sources  map[string]string
	received chan string
	// closing is set when the test is over: the server may still be
	// renegotiating, and failures of that are not the test's.
	closing atomic.Bool
	// held are chat frames that nextHolding passed over, for chatTexts.
	held []map[string]any
}

func dialRoom(t testing.TB, a *testAPI, room, token string) *wsClient {
	t.Helper()
	c, err := dialRoomErr(t, a, room, token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func dialRoomErr(t testing.TB, a *testAPI, room, token string) (*wsClient, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(a.url, "http") + "/api/v1/rooms/" + room + "/ws"
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(1 << 20)
	c := &wsClient{t: t, conn: conn, api: peertest.NewAPI(t, peertest.Options{}), in: make(chan map[string]any, 256), packets: map[string]int{},
		sources: map[string]string{}, received: make(chan string, 4096)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c.in)
		readMessages(conn, func(m map[string]any, data []byte) bool {
			switch {
			case m == nil:
				t.Errorf("server sent non-JSON: %s", data)
				return false
			case m["type"] == "offer":
				c.answer(m)
			default:
				c.in <- m
			}
			return true
		})
	}()
	t.Cleanup(func() {
		c.closing.Store(true)
		conn.Close(websocket.StatusNormalClosure, "test over")
		<-done
		if c.sub != nil {
			c.sub.Close()
			c.subRead()
		}
	})
	return c, nil
}

// readMessages hands each message conn receives to handle, decoded (nil when
// it is not a JSON object) and raw, until reading fails or handle returns false.
func readMessages(conn *websocket.Conn, handle func(m map[string]any, data []byte) bool) {
	for {
		_, data, err := conn.Read(context.Background())
		if err != nil {
			return
		}
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			m = nil
		}
		if !handle(m, data) {
			return
		}
	}
}

func (c *wsClient) send(m map[string]any) {
	c.t.Helper()
	data, _ := json.Marshal(m)
	if err := c.conn.Write(c.t.Context(), websocket.MessageText, data); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wsClient) sendRaw(typ websocket.MessageType, data []byte) error {
	return c.conn.Write(c.t.Context(), typ, data)
}

// next returns the next message of one of the types, skipping others.
func (c *wsClient) next(types ...string) map[string]any {
	c.t.Helper()
	return nextFrame(c.t, c.in, 15*time.Second, types, func(m map[string]any, typ string) bool { return m["type"] == typ })
}

// reply returns the ok or error answering the request with id, skipping
// everything else: other requests' answers come too (the ok for an answer
// to an offer, which has no id, can come after a later request was sent).
func (c *wsClient) reply(id string) map[string]any {
	c.t.Helper()
	return nextFrame(c.t, c.in, 15*time.Second, []string{"ok", "error"}, func(m map[string]any, typ string) bool { return m["type"] == typ && m["id"] == id })
}

// nextFrame returns the next frame from in that matches one of want,
// skipping others; it fails the test when in closes first or after within.
func nextFrame(t testing.TB, in <-chan map[string]any, within time.Duration, want []string, match func(m map[string]any, w string) bool) map[string]any {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m, ok := <-in:
			if !ok {
				t.Fatalf("socket closed while waiting for %v", want)
			}
			for _, w := range want {
				if match(m, w) {
					return m
				}
			}
		case <-deadline:
			t.Fatalf("no %v within %v", want, within)
		}
	}
}

// nextHolding is next, but keeps the chat frames it passes over for
// chatTexts: a chat event may come before the reply to the request that
// caused it.
func (c *wsClient) nextHolding(types ...string) map[string]any {
	c.t.Helper()
	for {
		m := c.next(append([]string{"chat"}, types...)...)
		if m["type"] != "chat" || slices.Contains(types, "chat") {
			return m
		}
		c.held = append(c.held, m)
	}
}

// answer responds to a subscriber offer with a pion peer that counts packets.
func (c *wsClient) answer(m map[string]any) {
	if c.sub == nil {
		pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			c.t.Error(err)
			return
		}
		c.subRead = peertest.OnPackets(pc, func(tr *webrtc.TrackRemote, _ *rtp.Packet) {
			c.mu.Lock()
			src := c.sources[tr.ID()]
			c.packets[src]++
			c.mu.Unlock()
			select {
			case c.received <- src:
			default:
			}
		})
		c.sub = pc
	}
	if tracks, ok := m["tracks"].(map[string]any); ok {
		c.mu.Lock()
		for id, info := range tracks {
			c.sources[id], _ = info.(map[string]any)["source"].(string)
		}
		c.mu.Unlock()
	}
	sdp, _ := m["sdp"].(string)
	ans, err := peertest.Answer(c.sub, sdp)
	if err != nil {
		if !c.closing.Load() {
			c.t.Errorf("offer: %v", err)
		}
		return
	}
	data, _ := json.Marshal(map[string]any{"type": "answer", "sdp": ans})
	c.conn.Write(context.Background(), websocket.MessageText, data)
}

// packetsOf returns how many packets of a source arrived.
func (c *wsClient) packetsOf(src string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.packets[src]
}

// waitMedia waits for packets of every source.
func (c *wsClient) waitMedia(sources ...string) {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		missing := ""
		for _, s := range sources {
			if c.packetsOf(s) == 0 {
				missing = s
			}
		}
		if missing == "" {
			return
		}
		select {
		case <-c.received:
		case <-deadline:
			c.t.Fatalf("no %s media within 10 s", missing)
		}
	}
}

// wsPublisher is a pion peer publishing synthetic VP8 camera and Opus microphone.
type wsPublisher struct {
	pc     *webrtc.PeerConnection
	tracks map[string]*webrtc.TrackLocalStaticRTP
}

// publish negotiates over c and starts sending.
func (c *wsClient) publish(sources ...string) *wsPublisher {
	c.t.Helper()
	pc := peertest.NewPeer(c.t, nil, webrtc.Configuration{})
	p := &wsPublisher{pc: pc, tracks: map[string]*webrtc.TrackLocalStaticRTP{}}
	names := map[string]string{}
	for _, src := range sources {
		codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
		if src == "microphone" {
			codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
		}
		p.tracks[src], _ = peertest.SendTrack(c.t, pc, codec, "t-"+src, "s")
		names["t-"+src] = src
	}
	c.send(map[string]any{"type": "publish", "id": "pub1", "sdp": peertest.Offer(c.t, pc), "sources": names})
	ans := c.next("answer", "error")
	if ans["type"] != "answer" {
		c.t.Fatalf("publish: %v", ans)
	}
	peertest.Accept(c.t, pc, ans["sdp"].(string))
	peertest.Pump(c.t, 5*time.Millisecond, p.send)
	return p
}

// send writes packet i on every track: VP8 with a keyframe every 10th, or Opus.
func (p *wsPublisher) send(i int) {
	for src, tr := range p.tracks {
		payload := []byte{0x10, 0x01, 0, 0}
		if i%10 == 0 {
			payload = []byte{0x10, 0x00, 0x9d, 0x01, 0x2a}
		}
		if src == "microphone" {
			payload = []byte{0xfc, 0xff, 0xfe}
		}
		tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 450}, Payload: payload})
	}
}
