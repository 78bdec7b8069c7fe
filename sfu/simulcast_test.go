package sfu

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/internal/peertest"
)

// simulcastPublisher sends three VP8 layers q, h, f. Each payload ends with the
// layer's index so a subscriber can tell which layer it receives.
type simulcastPublisher struct {
	pc           *webrtc.PeerConnection
	layers       []*webrtc.TrackLocalStaticRTP
	midID, ridID uint8
}

func publishSimulcast(t *testing.T, p *Participant) *simulcastPublisher {
	t.Helper()
	return publishSimulcastIn(t, p, webrtc.MimeTypeVP8)
}

// publishSimulcastIn is publishSimulcast in the codec mime.
func publishSimulcastIn(t *testing.T, p *Participant, mime string) *simulcastPublisher {
	t.Helper()
	pc := peertest.NewPeer(t, nil, webrtc.Configuration{})
	sp := &simulcastPublisher{pc: pc}
	for _, rid := range []string{"q", "h", "f"} {
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: mime}, "cam", "pub", webrtc.WithRTPStreamID(rid))
		if err != nil {
			t.Fatal(err)
		}
		sp.layers = append(sp.layers, tr)
	}
	sender, err := pc.AddTrack(sp.layers[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range sp.layers[1:] {
		if err := sender.AddEncoding(l); err != nil {
			t.Fatal(err)
		}
	}
	publishOn(t, p, pc, map[string]string{"cam": SourceCamera})
	sp.midID, sp.ridID = peertest.ExtensionID(sender, sdp.SDESMidURI), peertest.ExtensionID(sender, sdp.SDESRTPStreamIDURI)
	if sp.midID == 0 || sp.ridID == 0 {
		t.Fatal("mid and rid extensions were not negotiated")
	}
	return sp
}

// pump sends every 5 ms on each layer; layer i sends a keyframe every keyEvery[i] packets.
func (sp *simulcastPublisher) pump(stop <-chan struct{}, keyEvery [3]int) {
	sp.pumpWith(stop, func(i, li int) bool { return i%keyEvery[li] == 0 })
}

// pumpWith sends every 5 ms on each layer; packet i of layer li is a keyframe when key says so.
func (sp *simulcastPublisher) pumpWith(stop <-chan struct{}, key func(i, li int) bool) {
	peertest.Tick(stop, 5*time.Millisecond, func(i int) {
		for li, tr := range sp.layers {
			payload := []byte{0x10, 0x01, 0, byte(li)}
			if key(i, li) {
				payload = []byte{0x10, 0x00, 0x9d, byte(li)}
			}
			sp.send(tr, &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 450}, Payload: payload})
		}
	})
}

// onPLI calls fn with the layer's index for every PLI the SFU sends about
// a layer, from one goroutine per layer, until the peer closes.
func (sp *simulcastPublisher) onPLI(fn func(li int)) {
	sender := sp.pc.GetSenders()[0]
	for li, tr := range sp.layers {
		go func() {
			for {
				pkts, _, err := sender.ReadSimulcastRTCP(tr.RID())
				if err != nil {
					return
				}
				for _, pkt := range pkts {
					if _, ok := pkt.(*rtcp.PictureLossIndication); ok {
						fn(li)
					}
				}
			}
		}()
	}
}

// send writes pkt on the layer tr with the mid and rid header extensions
// that tell the SFU which section and layer it belongs to (RFC 8852).
func (sp *simulcastPublisher) send(tr *webrtc.TrackLocalStaticRTP, pkt *rtp.Packet) {
	pkt.Header.SetExtension(sp.midID, []byte("0"))
	pkt.Header.SetExtension(sp.ridID, []byte(tr.RID()))
	tr.WriteRTP(pkt)
}

func TestSimulcastLayerSwitchAtKeyframe(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("sim", RoomOptions{Tier: access.FHD})
	sub := subscribe(t, join(t, room, "viewer", (access.Subscribe|access.List)))
	pub := publishSimulcast(t, join(t, room, "host", everyone))
	stop := make(chan struct{})
	defer close(stop)
	// q has a keyframe every 60 packets (300 ms), so a switch to it visibly waits.
	go pub.pump(stop, [3]int{60, 10, 10})

	// The full-tier viewer starts on the top layer, once the three exist (their
	// first packets race: a lower one may arrive after a higher one).
	tracks := waitLayers(t, room, 3)
	waitSteady(t, sub, 2, 10)
	if err := sub.p.SetLayer(tracks[0].ID(), "q"); err != nil {
		t.Fatal(err)
	}
	// Packets keep coming from f until q's next keyframe; the first q packet is that keyframe.
	for {
		payload := nextPayload(t, sub)
		layer := payload[len(payload)-1]
		if layer == 2 {
			continue
		}
		if layer != 0 {
			t.Fatalf("switched to layer %d, want 0", layer)
		}
		if !vp8Keyframe(payload) {
			t.Fatalf("the switch to q happened on a delta frame: %x", payload)
		}
		break
	}
	// From then on only q arrives.
	for range 30 {
		if payload := nextPayload(t, sub); payload[len(payload)-1] != 0 {
			t.Fatalf("layer %d after the switch", payload[len(payload)-1])
		}
	}
	if err := sub.p.SetLayer(tracks[0].ID(), "x"); err == nil {
		t.Error("an unknown layer was accepted")
	}
}

// TestLayerSwitchAsksAgain has a publisher that sends keyframes only when asked
// and ignores the first request for q after the subscriber chose it, as when a
// keyframe is lost: the SFU asks again and the switch happens.
func TestLayerSwitchAsksAgain(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("ask", RoomOptions{Tier: access.FHD})
	sub := subscribe(t, join(t, room, "viewer", (access.Subscribe|access.List)))
	pub := publishSimulcast(t, join(t, room, "host", everyone))
	var (
		mu      sync.Mutex
		asked   [3]bool // a keyframe is owed on the layer
		armed   bool    // the next request for q is ignored
		ignored int
		honored int
	)
	pub.onPLI(func(li int) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case li == 0 && armed:
			armed = false
			ignored++
		case li == 0 && ignored > 0:
			honored++
			asked[li] = true
		default:
			asked[li] = true
		}
	})
	stop := make(chan struct{})
	defer close(stop)
	go pub.pumpWith(stop, func(i, li int) bool {
		mu.Lock()
		defer mu.Unlock()
		key := i == 0 || asked[li]
		asked[li] = false
		return key
	})
	// Steady on f for 200 ms: the requests for q made while the layers
	// appeared are answered by now; a keyframe still owed is forgotten.
	waitLayers(t, room, 3)
	waitSteady(t, sub, 2, 40)
	mu.Lock()
	armed, asked[0] = true, false
	mu.Unlock()
	if err := sub.p.SetLayer(room.Tracks()[0].ID(), "q"); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(8 * time.Second)
	for done := false; !done; {
		select {
		case p := <-sub.payloads:
			done = p[len(p)-1] == 0
		case <-deadline:
			mu.Lock()
			t.Fatalf("no switch to q within 8 s; requests for q ignored %d, honored %d", ignored, honored)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if ignored != 1 || honored == 0 {
		t.Errorf("requests for q ignored %d, honored %d; want 1 and at least 1", ignored, honored)
	}
}

// TestTierCapsLayer gives a subscriber the SD tier in an FHD room: it gets layer q.
func TestTierCapsLayer(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("tier", RoomOptions{Tier: access.FHD})
	p, err := room.Join(ParticipantOptions{Identity: "small", Kind: KindBrowser, Permissions: access.Subscribe, Tier: access.SD, AutoSubscribe: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close("test over") })
	sub := subscribe(t, p)
	pub := publishSimulcast(t, join(t, room, "host", everyone))
	stop := make(chan struct{})
	defer close(stop)
	go pub.pump(stop, [3]int{10, 10, 10})
	waitLayer(t, sub, 0)
	for range 20 {
		if payload := nextPayload(t, sub); payload[len(payload)-1] != 0 {
			t.Fatalf("SD subscriber got layer %d", payload[len(payload)-1])
		}
	}
}

// waitLayers waits until the room's one track has n simulcast layers.
func waitLayers(t *testing.T, room *Room, n int) []*Track {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for {
		if tracks := room.Tracks(); len(tracks) == 1 && len(tracks[0].Info().Layers) == n {
			return tracks
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no track with %d layers within 5 s: %+v", n, room.Tracks())
		}
	}
}

func nextPayload(t *testing.T, s *testSubscriber) []byte {
	t.Helper()
	select {
	case p := <-s.payloads:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no packet within 5 s")
	}
	return nil
}

// waitSteady waits for n packets of layer i in a row, so that no packet of a
// layer forwarded before is still on its way.
func waitSteady(t *testing.T, s *testSubscriber, i byte, n int) {
	t.Helper()
	waitLayer(t, s, i)
	for run := 0; run < n; {
		if payload := nextPayload(t, s); payload[len(payload)-1] == i {
			run++
		} else {
			run = 0
		}
	}
}

// waitLayer waits for a packet of layer i: on a busy machine the
// subscriber's negotiation and the publisher's keyframe can take seconds.
func waitLayer(t *testing.T, s *testSubscriber, i byte) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case p := <-s.payloads:
			if p[len(p)-1] == i {
				return
			}
		case <-deadline:
			t.Fatalf("no packet of layer %d within 30 s; %s", i, s.layerState())
		}
	}
}

// TestLayerInsertedBelow: a layer that arrives after a higher one is inserted
// under it; a subscriber's positions follow the encodings they named.
func TestLayerInsertedBelow(t *testing.T) {
	d := &downTrack{current: 1, target: 1}
	d.addEpoch(100, 0)
	d.addEpoch(200, 1)
	d.layerInserted(1)
	if d.current != 2 || d.target != 2 {
		t.Errorf("current %d, target %d after an insert at 1; want 2 and 2", d.current, d.target)
	}
	if e0, _ := d.source(150); e0.layer != 0 {
		t.Errorf("the epoch from layer 0 moved to %d", e0.layer)
	}
	if e1, _ := d.source(250); e1.layer != 2 {
		t.Errorf("the epoch from layer 1 is at %d, want 2", e1.layer)
	}
	d = &downTrack{current: -1, target: 0}
	d.layerInserted(0)
	if d.current != -1 || d.target != 1 {
		t.Errorf("before the first packet: current %d, target %d; want -1 and 1", d.current, d.target)
	}
}

// TestLastTrackEventListsEveryLayer has a publisher's three layers start at
// once: whatever order their announcements race in, the last track event a
// room sends about the track lists all three (a page that took a stale event
// last never offered the quality choice).
func TestLastTrackEventListsEveryLayer(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("layers", RoomOptions{Tier: access.FHD})
	var mu sync.Mutex
	last := map[string]int{}
	cancel := room.Observe(func(ev Event) {
		if ev.Track != nil && (ev.Type == EventTrackPublished || ev.Type == EventTrackUpdated) {
			mu.Lock()
			last[ev.Track.ID] = len(ev.Track.Layers)
			mu.Unlock()
		}
	})
	defer cancel()
	pub := publishSimulcast(t, join(t, room, "host", everyone))
	stop := make(chan struct{})
	defer close(stop)
	go pub.pump(stop, [3]int{10, 10, 10})
	id := waitLayers(t, room, 3)[0].ID()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for {
		mu.Lock()
		n, seen := last[id]
		mu.Unlock()
		if n == 3 {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("the room's last event about the track lists %d layers (seen %v), want 3", n, seen)
		}
	}
}

// layerState says, for failure messages, where each of the subscriber's video
// tracks stands: forwarded and wanted layer, and the layers' last keyframes.
func (s *testSubscriber) layerState() string {
	s.p.mu.Lock()
	downs := make([]*downTrack, 0, len(s.p.downs))
	for _, d := range s.p.downs {
		downs = append(downs, d)
	}
	s.p.mu.Unlock()
	var b strings.Builder
	for _, d := range downs {
		if d.track.keyframe == nil {
			continue
		}
		d.mu.Lock()
		fmt.Fprintf(&b, "track %s: current %d target %d max %d waiting %v auto %v asked %v ago;",
			d.track.id, d.current, d.target, d.maxLay, d.waiting, d.auto.Load(), time.Since(d.askedAt).Round(time.Millisecond))
		d.mu.Unlock()
		for i := range d.track.layerCount() {
			if l := d.track.layerAt(i); l != nil {
				l.kf.mu.Lock()
				fmt.Fprintf(&b, " layer %d: last keyframe %v ago, awaiting %v, unanswered %d, silent %v;", i,
					time.Since(l.kf.lastKey).Round(time.Millisecond), l.kf.awaiting, l.kf.unanswered, l.silent(time.Now()))
				l.kf.mu.Unlock()
			}
		}
	}
	return b.String()
}
