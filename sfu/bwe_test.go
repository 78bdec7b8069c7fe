package sfu

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/internal/peertest"
)

// shaper is a test subscriber's link: every datagram the subscriber
// receives passes a queue drained at rate bits per second that holds at most
// 100 ms and drops beyond, like tc's tbf, after a random loss of loss
// thousandths. rate 0 is unlimited. It sits under ICE, DTLS and SRTP, where a
// network's loss and delay happen.
type shaper struct {
	rate atomic.Int64
	loss atomic.Int32

	mu sync.Mutex
	// free is when the link has sent everything queued.
	free time.Time
}

// admit queues a datagram of n bytes: when it leaves the link, or false if it is lost.
func (s *shaper) admit(n int) (time.Time, bool) {
	if l := s.loss.Load(); l > 0 && rand.Int32N(1000) < l {
		return time.Time{}, false
	}
	rate := float64(s.rate.Load())
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if rate == 0 {
		s.free = now
		return now, true
	}
	s.free = later(s.free, now)
	if s.free.Sub(now) > 100*time.Millisecond {
		return time.Time{}, false
	}
	s.free = s.free.Add(time.Duration(float64(n*8) / rate * float64(time.Second)))
	return s.free, true
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// shapedConn is a UDP socket whose incoming datagrams pass a shaper. A
// goroutine reads the socket as datagrams arrive (ending when it closes) and
// ReadFrom hands each on when the link has carried it.
type shapedConn struct {
	net.PacketConn
	sh   *shaper
	ch   chan datagram
	once sync.Once
}

type datagram struct {
	buf  []byte
	from net.Addr
	at   time.Time
}

func (c *shapedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.once.Do(func() {
		go func() {
			defer close(c.ch)
			for {
				buf := make([]byte, 1500)
				n, from, err := c.PacketConn.ReadFrom(buf)
				if err != nil {
					return
				}
				if at, ok := c.sh.admit(n); ok {
					select {
					case c.ch <- datagram{buf[:n], from, at}:
					default:
					}
				}
			}
		}()
	})
	d, ok := <-c.ch
	if !ok {
		return 0, nil, net.ErrClosed
	}
	if wait := time.Until(d.at); wait > 0 {
		// The link's transmission and queueing delay.
		time.Sleep(wait)
	}
	return copy(b, d.buf), d.from, nil
}

// shapedAPI is pion's default API (codecs, NACK, reports, TWCC feedback)
// receiving through sh on a loopback socket of its own.
func shapedAPI(t *testing.T, sh *shaper) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	// Room for a second of packets while a busy machine starves the reader:
	// the shaper, not the kernel's socket buffer, decides what is lost.
	if err := conn.SetReadBuffer(4 << 20); err != nil {
		t.Fatal(err)
	}
	mux := webrtc.NewICEUDPMux(nil, &shapedConn{PacketConn: conn, sh: sh, ch: make(chan datagram, 4096)})
	t.Cleanup(func() { mux.Close(); conn.Close() })
	se := webrtc.SettingEngine{}
	se.SetICEUDPMux(mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
}

// pumpSized sends VP8 on the three layers every 5 ms with payloads of the
// given sizes (the layers' bitrates), a keyframe every 40 packets, each
// packet a whole frame. The last payload byte is the layer.
func (sp *simulcastPublisher) pumpSized(stop <-chan struct{}, sizes [3]int) {
	peertest.Tick(stop, 5*time.Millisecond, func(i int) {
		for li, tr := range sp.layers {
			payload := make([]byte, sizes[li])
			copy(payload, []byte{0x10, 0x01})
			if i%40 == 0 {
				copy(payload, []byte{0x10, 0x00, 0x9d})
			}
			payload[len(payload)-1] = byte(li)
			sp.send(tr, &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(i), Timestamp: uint32(i) * 450}, Payload: payload})
		}
	})
}

// layerRates are the three layers of pumpVideo in bits per second of
// payload: about a browser's 180p, 360p and 720p at a low frame rate, in
// packets of at most 1,150 bytes.
var layerRates = [3]int{100_000, 300_000, 900_000}

// pumpVideo sends VP8 on the three layers at rates (bits per second of
// payload), in packets of as many bytes as a tenth of a second takes in ten
// packets, each packet a whole frame, a keyframe every 40 frames of a layer.
// Its packet rates are a browser's (25 to 100 a second per layer), so that the
// test's own receiver keeps up on a busy machine; the last payload byte is the
// layer.
func (sp *simulcastPublisher) pumpVideo(stop <-chan struct{}, rates [3]int) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var frames [3]int
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		for li, tr := range sp.layers {
			// Layer l sends every 2^(2-l)th tick: 25, 50, 100 packets a second.
			every := 1 << (2 - li)
			if i%every != 0 {
				continue
			}
			size := max(rates[li]*every/100/8, 4)
			payload := make([]byte, size)
			copy(payload, []byte{0x10, 0x01})
			if frames[li]%40 == 0 {
				copy(payload, []byte{0x10, 0x00, 0x9d})
			}
			payload[len(payload)-1] = byte(li)
			n := frames[li]
			frames[li]++
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(n), Timestamp: uint32(i) * 900}, Payload: payload}
			pkt.Header.SetExtension(sp.midID, []byte("0"))
			pkt.Header.SetExtension(sp.ridID, []byte(tr.RID()))
			tr.WriteRTP(pkt)
		}
	}
}

// poll waits for cond, checking every 20 ms, and fails after timeout.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s: not within %v", what, timeout)
		}
	}
	return time.Since(start)
}

func TestSubscriberNegotiatesTransportCC(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("twcc", RoomOptions{})
	sub := subscribe(t, join(t, room, "viewer", (access.Subscribe|access.List)))
	pub := publishTracks(t, join(t, room, "host", everyone), webrtc.MimeTypeVP8, SourceCamera, SourceMicrophone)
	stop := make(chan struct{})
	defer close(stop)
	go pub.pump(stop)
	sub.waitSources(10*time.Second, SourceCamera, SourceMicrophone)

	offer := sub.pc.RemoteDescription().SDP
	if !strings.Contains(offer, "a=rtcp-fb:96 transport-cc") || !strings.Contains(offer, sdp.TransportCCURI) {
		t.Fatalf("the subscriber offer has no transport-cc:\n%s", offer)
	}
	// Both sides agreed on the extension for each sender.
	for _, tr := range sub.pc.GetTransceivers() {
		found := false
		for _, ext := range tr.Receiver().GetParameters().HeaderExtensions {
			found = found || ext.URI == sdp.TransportCCURI
		}
		if !found {
			t.Errorf("%s receiver: no transport-wide sequence numbers negotiated", tr.Kind())
		}
	}
	est := sub.p.est.Load()
	poll(t, 10*time.Second, "TWCC feedback and an estimate", func() bool { return est.twccSeen.Load() && est.last.Load() > 0 })
}

// TestEstimateFollowsTheLink limits a subscriber's link to 250 kbit/s and
// frees it again: the estimate and the forwarded layer fall, then probing
// brings the subscriber back to the top layer.
func TestEstimateFollowsTheLink(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 20 s")
	}
	s := newTestSFU(t)
	room, _ := s.Room("bwe", RoomOptions{Tier: access.FHD})
	sh := &shaper{}
	viewer := join(t, room, "viewer", (access.Subscribe | access.List))
	sub := subscribeWith(t, viewer, shapedAPI(t, sh))
	t.Cleanup(sub.close)
	pub := publishSimulcast(t, join(t, room, "host", everyone))
	stop := make(chan struct{})
	defer close(stop)
	go pub.pumpVideo(stop, layerRates)
	tracks := waitLayers(t, room, 3)
	d := viewer.down(tracks[0].ID())
	est := viewer.est.Load()
	current := func() int { c, _ := d.layers(); return c }

	took := poll(t, 60*time.Second, "the top layer on a free link", func() bool { return current() == 2 })
	t.Logf("top layer after %v, estimate %d", took, est.last.Load())

	// The lowest layer fits (about 0.11 Mbit/s with headers), the middle
	// one (0.32) does not.
	sh.rate.Store(250_000)
	took = poll(t, 60*time.Second, "the lowest layer on a 250 kbit/s link", func() bool {
		return current() == 0 && est.last.Load() < 375_000
	})
	t.Logf("limited: lowest layer after %v, estimate %d", took, est.last.Load())

	sh.rate.Store(0)
	took = poll(t, 60*time.Second, "the top layer again on a free link", func() bool { return current() == 2 })
	sub.mu.Lock()
	padding := sub.padding
	sub.mu.Unlock()
	t.Logf("freed: top layer after %v, estimate %d, padding packets %d", took, est.last.Load(), padding)
	if took > 10*time.Second {
		t.Logf("slower than the 10 s target (a loaded machine?)")
	}
	if padding == 0 {
		t.Error("back on the top layer without a probe")
	}
}

// TestRandomLossIsNotCongestion drops 5% of a subscriber's packets at
// random on an otherwise free link: the subscriber stays on the top layer
// (NACKs repair the loss) and the estimate stays above what it needs.
func TestRandomLossIsNotCongestion(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 10 s")
	}
	s := newTestSFU(t)
	room, _ := s.Room("loss", RoomOptions{Tier: access.FHD})
	sh := &shaper{}
	viewer := join(t, room, "viewer", (access.Subscribe | access.List))
	sub := subscribeWith(t, viewer, shapedAPI(t, sh))
	t.Cleanup(sub.close)
	pub := publishSimulcast(t, join(t, room, "host", everyone))
	stop := make(chan struct{})
	defer close(stop)
	go pub.pumpVideo(stop, layerRates)
	tracks := waitLayers(t, room, 3)
	d := viewer.down(tracks[0].ID())
	est := viewer.est.Load()
	current := func() int { c, _ := d.layers(); return c }
	poll(t, 60*time.Second, "the top layer with TWCC feedback", func() bool { return current() == 2 && est.twccSeen.Load() })
	sh.loss.Store(50)
	// Ten seconds of 5% loss: at no time below the top layer for long.
	start := time.Now()
	low := time.Duration(0)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for time.Since(start) < 10*time.Second {
		<-tick.C
		if current() != 2 {
			low += 50 * time.Millisecond
		}
	}
	t.Logf("below the top layer for %v of 10 s; estimate %d", low, est.last.Load())
	// Read as congestion, the loss would hold it down nearly all the time; a
	// busy machine's delay jitter may take it down for a while.
	if low > 5*time.Second {
		t.Errorf("5%% random loss held the subscriber below the top layer for %v of 10 s", low)
	}
}

// TestSlowSubscriberDoesNotDelayOthers has one subscriber whose queue is
// paced to a trickle and one that reads normally: the normal one keeps
// receiving every packet while the slow one's queue drops old packets.
func TestSlowSubscriberDoesNotDelayOthers(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("slow", RoomOptions{})
	slow := join(t, room, "slow", (access.Subscribe | access.List))
	slowSub := subscribe(t, slow)
	fast := subscribe(t, join(t, room, "fast", (access.Subscribe|access.List)))
	pub := publishTracks(t, join(t, room, "host", everyone), webrtc.MimeTypeVP8, SourceCamera)
	stop := make(chan struct{})
	defer close(stop)
	go pub.pump(stop)
	fast.waitSources(10*time.Second, SourceCamera)
	slowSub.waitSources(10*time.Second, SourceCamera)

	// The slow subscriber's sending is stalled: its queue goroutine is held
	// inside a write for the rest of the test.
	q := slow.out.Load()
	release := make(chan struct{})
	held := make(chan struct{})
	q.push(nil, &binding{write: stallWriter{held: held, release: release}}, &rtp.Header{}, nil, true)
	<-held
	defer close(release)

	received := &s.stats.received
	r0, f0 := received.Load(), fast.count(SourceCamera)
	// The fast subscriber gets what the publisher sends, whatever the stalled one does.
	poll(t, 30*time.Second, "400 packets at the fast subscriber", func() bool { return fast.count(SourceCamera)-f0 >= 400 })
	r1, f1 := received.Load(), fast.count(SourceCamera)
	if got, sent := f1-f0, int(r1-r0); got < sent*9/10-20 {
		t.Errorf("the fast subscriber got %d of the %d packets the server received meanwhile", got, sent)
	}
	if q.len() == 0 {
		t.Error("the stalled subscriber's queue is empty")
	}
	if q.len() > sendQueueLen {
		t.Errorf("queue of %d", q.len())
	}
}

// stallWriter blocks its first write until release is closed.
type stallWriter struct {
	held, release chan struct{}
}

func (w stallWriter) WriteRTP(*rtp.Header, []byte) (int, error) {
	close(w.held)
	<-w.release
	return 0, nil
}

func (w stallWriter) Write([]byte) (int, error) { return 0, nil }

// levelPublisher publishes a VP8 camera of a given packet size and a
// microphone that sends the RFC 6464 audio level, loud or silent.
type levelPublisher struct {
	cam, mic *webrtc.TrackLocalStaticRTP
	levelID  uint8
	loud     atomic.Bool
}

func publishWithLevel(t *testing.T, p *Participant) *levelPublisher {
	t.Helper()
	pc := peertest.NewPeer(t, levelAPI(t), webrtc.Configuration{})
	lp := &levelPublisher{}
	lp.cam, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam", "s-"+p.identity)
	lp.mic, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "s-"+p.identity)
	if _, err := pc.AddTrack(lp.cam); err != nil {
		t.Fatal(err)
	}
	micSender, err := pc.AddTrack(lp.mic)
	if err != nil {
		t.Fatal(err)
	}
	publishOn(t, p, pc, map[string]string{"cam": SourceCamera, "mic": SourceMicrophone})
	if lp.levelID = peertest.ExtensionID(micSender, audioLevelURI); lp.levelID == 0 {
		t.Fatal("no audio level extension negotiated")
	}
	return lp
}

// pump sends a camera packet of size bytes every 5 ms (a keyframe every 40)
// and an audio packet every 20 ms, loud or silent.
func (lp *levelPublisher) pump(stop <-chan struct{}, size int) {
	peertest.Tick(stop, 5*time.Millisecond, func(i int) {
		payload := make([]byte, size)
		copy(payload, vp8Delta)
		if i%40 == 0 {
			copy(payload, vp8Key)
		}
		lp.cam.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(i), Timestamp: uint32(i) * 450}, Payload: payload})
		if i%4 == 0 {
			level := byte(127)
			if lp.loud.Load() {
				level = 20
			}
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i / 4), Timestamp: uint32(i/4) * 960}, Payload: []byte{0xfc, 0xff, 0xfe}}
			pkt.Header.SetExtension(lp.levelID, []byte{level})
			lp.mic.WriteRTP(pkt)
		}
	})
}

// levelAPI is the default pion API that also sends the RFC 6464 audio level.
func levelAPI(t testing.TB) *webrtc.API {
	return peertest.NewAPI(t, peertest.Options{Extensions: []peertest.Extension{{URI: audioLevelURI, Kind: webrtc.RTPCodecTypeAudio}}})
}

// TestSpeakerVideoWinsTheBudget gives a subscriber a link that carries one
// of two cameras: the active speaker's is sent, the other paused (and the
// client told); when the other starts speaking, they swap.
func TestSpeakerVideoWinsTheBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 10 s")
	}
	s := newTestSFU(t)
	room, _ := s.Room("speaker", RoomOptions{})
	sh := &shaper{}
	sh.rate.Store(1_800_000)
	viewer := join(t, room, "viewer", (access.Subscribe | access.List))
	sub := subscribeWith(t, viewer, shapedAPI(t, sh))
	t.Cleanup(sub.close)
	a := publishWithLevel(t, join(t, room, "alice", everyone))
	b := publishWithLevel(t, join(t, room, "bob", everyone))
	stop := make(chan struct{})
	defer close(stop)
	// About 1.2 Mbit/s each: one fits the link, two do not.
	go a.pump(stop, 700)
	go b.pump(stop, 700)
	sub.waitSources(20*time.Second, SourceCamera, SourceMicrophone)
	cams := map[string]*downTrack{}
	poll(t, 10*time.Second, "both cameras subscribed", func() bool {
		for _, tr := range room.Tracks() {
			if tr.Source() == SourceCamera {
				if d := viewer.down(tr.ID()); d != nil {
					cams[tr.Owner().identity] = d
				}
			}
		}
		return len(cams) == 2
	})
	sending := func(who string) bool {
		other := "bob"
		if who == "bob" {
			other = "alice"
		}
		return !cams[who].bwPaused.Load() && cams[other].bwPaused.Load()
	}
	a.loud.Store(false)
	b.loud.Store(true)
	took := poll(t, 60*time.Second, "bob's camera sent and alice's paused while bob speaks", func() bool { return sending("bob") })
	t.Logf("bob's camera alone after %v, estimate %d", took, viewer.est.Load().last.Load())
	poll(t, 10*time.Second, "the subscriber told of the paused video", func() bool { return sub.sawEvent(EventVideoPaused) })
	b.loud.Store(false)
	a.loud.Store(true)
	took = poll(t, 60*time.Second, "alice's camera sent and bob's paused while alice speaks", func() bool { return sending("alice") })
	t.Logf("alice's camera alone after %v", took)
	poll(t, 10*time.Second, "the subscriber told of the resumed video", func() bool { return sub.sawEvent(EventVideoResumed) })
}

// TestViewSizeCapsLayer: a tile's reported size caps the layer on a free
// link, and a manual layer is a cap too.
func TestViewSizeCapsLayer(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("view", RoomOptions{Tier: access.HD})
	viewer := join(t, room, "viewer", (access.Subscribe | access.List))
	subscribe(t, viewer)
	pub := publishSimulcast(t, join(t, room, "host", everyone))
	stop := make(chan struct{})
	defer close(stop)
	// Layers of under 100 kbit/s: whatever the estimate does on a busy
	// machine, every layer fits, and only the view and layer caps count.
	go pub.pumpSized(stop, [3]int{4, 8, 16})
	tracks := waitLayers(t, room, 3)
	id := tracks[0].ID()
	d := viewer.down(id)
	current := func() int { c, _ := d.layers(); return c }
	poll(t, 20*time.Second, "the top layer", func() bool { return current() == 2 })

	steps := []struct {
		w, h  int
		layer string
		want  int
	}{
		{320, 180, "auto", 0},    // a thumbnail: q (180 of the HD tier's 720)
		{640, 360, "auto", 1},    // h
		{1280, 720, "auto", 2},   // f
		{1280, 720, "h", 1},      // a manual choice caps
		{320, 180, "h", 0},       // and the tile still caps below it
		{0, 0, "auto", 2},        // unknown size: no cap
		{-1, 10, "auto", 2},      // refused, nothing changes
		{1280, 99999, "auto", 2}, // refused
	}
	for _, st := range steps {
		if err := viewer.SetLayer(id, st.layer); err != nil {
			t.Fatal(err)
		}
		err := viewer.SetView(id, st.w, st.h)
		if (err != nil) != (st.w < 0 || st.h > 16384) {
			t.Fatalf("SetView(%d, %d): %v", st.w, st.h, err)
		}
		poll(t, 20*time.Second, fmt.Sprintf("layer %d for a %dx%d tile with layer %s", st.want, st.w, st.h, st.layer), func() bool { return current() == st.want })
	}
	if err := viewer.SetView("nope", 1, 1); err == nil {
		t.Error("a view of an unknown track was accepted")
	}
}

func FuzzTWCCLoss(f *testing.F) {
	fb := &rtcp.TransportLayerCC{
		SenderSSRC: 1, MediaSSRC: 2, BaseSequenceNumber: 10, PacketStatusCount: 5, ReferenceTime: 1, FbPktCount: 1,
		PacketChunks: []rtcp.PacketStatusChunk{&rtcp.StatusVectorChunk{SymbolSize: rtcp.TypeTCCSymbolSizeOneBit,
			SymbolList: []uint16{1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}},
		RecvDeltas: []*rtcp.RecvDelta{{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 250}, {Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 250}, {Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 250}},
	}
	if b, err := fb.Marshal(); err == nil {
		f.Add(b)
		lost, total := twccLoss(fb)
		if lost != 2 || total != 5 {
			f.Fatalf("seed: lost %d of %d, want 2 of 5", lost, total)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pkts, err := rtcp.Unmarshal(data)
		if err != nil {
			return
		}
		for _, p := range pkts {
			if fb, ok := p.(*rtcp.TransportLayerCC); ok {
				lost, total := twccLoss(fb)
				if lost < 0 || lost > total || total > int(fb.PacketStatusCount) {
					t.Fatalf("lost %d of %d, status count %d", lost, total, fb.PacketStatusCount)
				}
			}
		}
	})
}

// TestLossMeterReadsRandomLossAsRandom feeds the loss meter ten simulated
// minutes of transport-wide feedback, a report every 100 ms as Chromium sends
// them, at a 180p and a 720p connection's packet rates: 5% random loss never
// reads as over lossBackoff (over one allocator round's packets it did one
// round in five to seven), and 20% loss reads as congestion within 2 s.
func TestLossMeterReadsRandomLossAsRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 20))
	binomial := func(n int, p float64) int64 {
		k := int64(0)
		for range n {
			if rng.Float64() < p {
				k++
			}
		}
		return k
	}
	for _, perSecond := range []int{80, 250} {
		var m lossMeter
		now := time.Unix(0, 0)
		n := perSecond / 10
		high := 0
		for range 6000 {
			now = now.Add(100 * time.Millisecond)
			if loss, _ := m.add(binomial(n, 0.05), int64(n), now); loss > lossBackoff {
				high++
			}
		}
		if high > 0 {
			t.Errorf("%d packets a second, 5%% random loss: over %.0f%% in %d of 6000 reports", perSecond, lossBackoff*100, high)
		}
		if got := m.loss; got < 0.03 || got > 0.07 {
			t.Errorf("%d packets a second, 5%% random loss: read as %.3f", perSecond, got)
		}
		start := now
		for {
			now = now.Add(100 * time.Millisecond)
			if loss, _ := m.add(binomial(n, 0.2), int64(n), now); loss > lossBackoff {
				break
			}
			if now.Sub(start) > 2*time.Second {
				t.Errorf("%d packets a second: 20%% loss not read as congestion within 2 s", perSecond)
				break
			}
		}
		t.Logf("%d packets a second: 20%% loss read as congestion after %v", perSecond, now.Sub(start))
	}
}

// TestLossyProbeFails: a probe whose own packets are lost beyond
// probeLossMax fails at once, whatever the loss meter reads (its windows are
// longer than a probe on a slow link), and the estimate stays; a probe with 5%
// loss succeeds and lifts it.
func TestLossyProbeFails(t *testing.T) {
	e := &estimator{}
	var ps probeState
	a := allocation{next: 550_000}
	ps.update(e, 400_000, false, a)
	if ps.rate != 550_000*11/10 {
		t.Fatalf("probe rate %d, want the next step's %d", ps.rate, 550_000*11/10)
	}
	// A quarter of the probe's packets lost: it fails on the next round.
	e.probeLost.Add(30)
	e.probeReported.Add(120)
	ps.update(e, 400_000, false, a)
	if ps.rate != 0 || ps.gap == 0 {
		t.Fatalf("a probe losing 25%% goes on: rate %d, gap %v", ps.rate, ps.gap)
	}
	if e.probed != 0 {
		t.Errorf("a failed probe raised the estimate to %d", e.probed)
	}
	// The next probe starts afresh and, losing 5%, succeeds.
	ps.next = time.Now().Add(-time.Millisecond)
	ps.update(e, 400_000, false, a)
	if ps.rate == 0 || e.probeReported.Load() != 0 {
		t.Fatalf("no fresh probe: rate %d, reported %d", ps.rate, e.probeReported.Load())
	}
	e.probeLost.Add(10)
	e.probeReported.Add(200)
	ps.until = time.Now().Add(-time.Millisecond)
	ps.update(e, 400_000, false, a)
	if e.probed != 550_000*11/10 {
		t.Errorf("a probe losing 5%% did not lift the estimate: probed %d", e.probed)
	}
	// The cap: never more than twice the estimate at once.
	ps.next = time.Now().Add(-time.Millisecond)
	ps.update(e, 1_000_000, false, allocation{next: 2_600_000})
	if ps.rate != 2_000_000 {
		t.Errorf("probe rate %d from 1 Mbit/s toward 2.6, want 2000000", ps.rate)
	}
}
