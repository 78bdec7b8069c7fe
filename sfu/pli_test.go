package sfu

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/internal/peertest"
)

// waitPLIsQuiet returns the PLIs the publisher received during d.
func plisDuring(pub *lossyPublisher, d time.Duration) int {
	before := pub.pliCount()
	time.Sleep(d) // a window to count in, not synchronization
	return pub.pliCount() - before
}

// TestNoKeyframeRequestsWithoutJoins: in a broadcast room with a publisher
// that sends keyframes only when asked (as browsers do) and a subscriber that
// has its first picture, nothing asks for keyframes while nobody joins.
func TestNoKeyframeRequestsWithoutJoins(t *testing.T) {
	room, pub := onDemandBroadcast(t, "quiet")
	sub := subscribe(t, join(t, room, "sub", access.Subscribe))
	sub.waitSources(10*time.Second, SourceCamera)
	if n := plisDuring(pub, 3*time.Second); n != 0 {
		t.Errorf("%d keyframe requests in 3 s with nobody joining, want 0", n)
	}
}

// onDemandBroadcast makes broadcast room name with a host that publishes
// H.264 from an encoder that sends keyframes only when asked (as browsers
// do), unless setup says otherwise, until the test ends.
func onDemandBroadcast(t *testing.T, name string, setup ...func(*lossyPublisher)) (*Room, *lossyPublisher) {
	t.Helper()
	room, _ := newTestSFU(t).Room(name, RoomOptions{Broadcast: true})
	pub := publishLossy(t, join(t, room, "host", everyone), webrtc.MimeTypeH264)
	for _, f := range setup {
		f(pub)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		pub.pumpGOP(1, 0, nil, 0, stop)
	}()
	t.Cleanup(func() { close(stop); <-done })
	return room, pub
}

// segmentSink asks for a keyframe segmentAsk after each keyframe, as the HLS
// segmenter does ahead of a segment boundary.
type segmentSink struct {
	track   *Track
	mu      sync.Mutex
	lastKey time.Time
	asked   bool
	asks    atomic.Int32
}

const segmentAsk = 500 * time.Millisecond

// addSegmentSink waits up to 10 s for room's first track and adds a
// segmentSink to it; the caller removes it.
func addSegmentSink(t *testing.T, room *Room) (*Track, *segmentSink) {
	t.Helper()
	poll(t, 10*time.Second, "the published track", func() bool { return len(room.Tracks()) > 0 })
	tr := room.Tracks()[0]
	sink := &segmentSink{track: tr}
	tr.AddSink(sink)
	return tr, sink
}

func (s *segmentSink) WriteRTP(pkt *rtp.Packet, layer int, keyframe bool) {
	s.mu.Lock()
	now := time.Now()
	ask := false
	switch {
	case keyframe:
		s.lastKey, s.asked = now, false
	case !s.lastKey.IsZero() && !s.asked && now.Sub(s.lastKey) >= segmentAsk:
		s.asked, ask = true, true
	}
	s.mu.Unlock()
	if ask {
		s.asks.Add(1)
		s.track.RequestLayerKeyframe(layer)
	}
}

// TestNaturalKeyframesServeSegmentRequests: when the encoder sends a keyframe
// every second on its own (and ignores requests, as OBS and ffmpeg do), a server-side sink's request ahead of each segment
// boundary is served by it: no PLI goes out once the rhythm is known.
func TestNaturalKeyframesServeSegmentRequests(t *testing.T) {
	room, pub := onDemandBroadcast(t, "gop", func(pub *lossyPublisher) { pub.ignorePLI, pub.keyEvery = true, time.Second })
	deadline := time.Now().Add(10 * time.Second)
	tr, sink := addSegmentSink(t, room)
	defer tr.RemoveSink(sink)
	// Learning the rhythm takes two keyframes; then count the requests that
	// go out for the sink's next asks. Each ask was a request before.
	for sink.asks.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the sink never asked: no keyframes came")
		}
		time.Sleep(20 * time.Millisecond)
	}
	asks, plis := sink.asks.Load(), pub.pliCount()
	for sink.asks.Load() < asks+6 {
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatalf("the sink asked %d times more: keyframes stopped", sink.asks.Load()-asks)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// One request may go out when a loaded machine breaks the rhythm.
	if n := pub.pliCount() - plis; n > 1 {
		t.Errorf("%d keyframe requests for 6 asks while the encoder sends a keyframe a second on its own, want at most 1", n)
	}
}

// TestSegmentRequestsWithoutNaturalKeyframes: with an encoder that sends
// keyframes only when asked, every segment's request goes out (HLS needs a
// keyframe per segment), one each.
func TestSegmentRequestsWithoutNaturalKeyframes(t *testing.T) {
	room, pub := onDemandBroadcast(t, "nogop")
	deadline := time.Now().Add(10 * time.Second)
	tr, sink := addSegmentSink(t, room)
	defer tr.RemoveSink(sink)
	// The first keyframe was sent before the sink was added: it asks like a
	// starting program does, once the layer is sending.
	for tr.layerAt(0).silent(time.Now()) {
		if time.Now().After(deadline) {
			t.Fatal("the layer never sent")
		}
		time.Sleep(10 * time.Millisecond)
	}
	tr.RequestLayerKeyframe(0)
	for sink.asks.Load() < 4 {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("the sink asked %d times: keyframes did not come", sink.asks.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	asks := int(sink.asks.Load())
	for pub.pliCount() < asks {
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatalf("%d requests for %d segment boundaries, want one each", pub.pliCount(), asks)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if plis := pub.pliCount(); plis > asks+2 {
		t.Errorf("%d requests for %d segment boundaries, want one each", plis, asks)
	}
}

// TestJoinCrowdCoalescesKeyframeRequests: 30 subscribers joining at once
// each get video from a publisher that sends keyframes only when asked, with
// requests at least minPLIInterval apart (a few keyframes, not one each).
func TestJoinCrowdCoalescesKeyframeRequests(t *testing.T) {
	room, pub := onDemandBroadcast(t, "crowd")
	first := subscribe(t, join(t, room, "first", access.Subscribe))
	first.waitSources(10*time.Second, SourceCamera)

	before, start := pub.pliCount(), time.Now()
	const n = 30
	subs := make([]*testSubscriber, n)
	for i := range subs {
		// Joining returns at once; the connections come up together.
		subs[i] = subscribe(t, join(t, room, fmt.Sprintf("viewer%d", i), access.Subscribe))
	}
	for _, sub := range subs {
		sub.waitSources(20*time.Second, SourceCamera)
	}
	elapsed := time.Since(start)
	plis := pub.pliCount() - before
	if most := int(elapsed/minPLIInterval) + 2; plis > most {
		t.Errorf("%d keyframe requests for %d joins in %v, want at most %d", plis, n, elapsed, most)
	}
	if plis >= n {
		t.Errorf("%d keyframe requests for %d joins: not coalesced", plis, n)
	}
	t.Logf("%d joins in %v took %d keyframe requests", n, elapsed, plis)
}

// TestJoinWhileTopLayerPaused: a publisher's encoder paused its top simulcast
// layer; a subscriber that joins asks for a keyframe of the best layer still
// sending, gets video there, and the paused layer is not asked. The
// publisher ignores the first request after the pause, as when it is lost:
// the subscriber asks again.
func TestJoinWhileTopLayerPaused(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("paused", RoomOptions{Tier: access.FHD})
	pub := publishSimulcast(t, join(t, room, "host", everyone))
	var (
		mu      sync.Mutex
		asked   [3]bool
		plis    [3]int
		paused  atomic.Bool
		ignored int
	)
	pub.onPLI(func(li int) {
		mu.Lock()
		if paused.Load() {
			plis[li]++
		}
		if paused.Load() && li == 1 && ignored == 0 {
			ignored++
		} else {
			asked[li] = true
		}
		mu.Unlock()
	})
	stop := make(chan struct{})
	defer close(stop)
	go peertest.Tick(stop, 5*time.Millisecond, func(i int) {
		for li, tr := range pub.layers {
			if li == 2 && paused.Load() {
				continue
			}
			mu.Lock()
			key := i == 0 || asked[li]
			asked[li] = false
			mu.Unlock()
			payload := []byte{0x10, 0x01, 0, byte(li)}
			if key {
				payload = []byte{0x10, 0x00, 0x9d, byte(li)}
			}
			pub.send(tr, &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 450}, Payload: payload})
		}
	})
	tracks := waitLayers(t, room, 3)
	paused.Store(true)
	l := tracks[0].layerAt(2)
	for deadline := time.Now().Add(10 * time.Second); !l.silent(time.Now()); {
		if time.Now().After(deadline) {
			t.Fatal("the paused layer never counted as silent")
		}
		time.Sleep(50 * time.Millisecond)
	}
	sub := subscribe(t, join(t, room, "viewer", access.Subscribe))
	sub.waitSources(30*time.Second, SourceCamera)
	mu.Lock()
	defer mu.Unlock()
	if plis[2] != 0 {
		t.Errorf("the paused layer was asked for %d keyframes", plis[2])
	}
	if ignored != 1 || plis[1] < 2 {
		t.Errorf("layer h: %d requests ignored, %d made; want 1 ignored and another made", ignored, plis[1])
	}
}

// TestKeyframeRequestsWaitForTheEncoder: a browser's encoder drops keyframe
// requests that arrive within 300 ms of its last keyframe. Requests made
// right after a keyframe (a subscriber connecting just after another one's
// picture came) wait until the encoder takes them, instead of going out to
// be dropped and answered only by a retry a second later.
func TestKeyframeRequestsWaitForTheEncoder(t *testing.T) {
	room, pub := onDemandBroadcast(t, "gap", func(p *lossyPublisher) { p.minKeyGap = 300 * time.Millisecond })
	sub := subscribe(t, join(t, room, "sub", access.Subscribe))
	sub.waitSources(10*time.Second, SourceCamera)
	tracks := room.Tracks()
	if len(tracks) != 1 {
		t.Fatalf("%d tracks, want 1", len(tracks))
	}
	track := tracks[0]
	counts := func() (keys, dropped int) {
		pub.mu.Lock()
		defer pub.mu.Unlock()
		return pub.keys, pub.droppedPLIs
	}
	// The keyframe the server last saw: a request is made only once the
	// previous keyframe has arrived (a request made while one is on its way
	// is answered by it, and the encoder rightly drops it).
	seen := func() time.Time {
		k := &track.layerAt(0).kf
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.lastKey
	}
	keys := func() int { k, _ := counts(); return k }
	_, droppedBefore := counts() // the publisher's start may race its first request
	for i := range 4 {
		before, asked := keys(), time.Now()
		track.requestKeyframe(0)
		deadline := time.Now().Add(3 * time.Second)
		for keys() == before || !seen().After(asked) {
			if time.Now().After(deadline) {
				_, dropped := counts()
				t.Fatalf("request %d: no keyframe within 3 s (the encoder dropped %d requests)", i, dropped)
			}
			time.Sleep(5 * time.Millisecond) // polling the publisher's count
		}
		t.Logf("request %d answered after %v", i, time.Since(asked).Round(time.Millisecond))
	}
	if _, dropped := counts(); dropped != droppedBefore {
		t.Errorf("the encoder dropped %d keyframe requests that came too soon after its last keyframe, want 0", dropped-droppedBefore)
	}
}
