package sfu

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/internal/peertest"
)

// A publisher harness for loss repair: a real pion peer whose outgoing
// packets pass a test-side filter nearest the network (after pion's NACK
// responder, so that a dropped first copy can still be retransmitted), and
// which counts the NACKs and PLIs the SFU sends it.

// dropFilter is an interceptor that drops the outgoing packets drop chooses.
type dropFilter struct {
	interceptor.NoOp
	drop func(h *rtp.Header) bool
}

func (f *dropFilter) NewInterceptor(string) (interceptor.Interceptor, error) { return f, nil }

func (f *dropFilter) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if f.drop(h) {
			return h.MarshalSize() + len(payload), nil
		}
		return w.Write(h, payload, a)
	})
}

type lossyPublisher struct {
	pc    *webrtc.PeerConnection
	track *webrtc.TrackLocalStaticRTP
	ssrc  uint32

	mu    sync.Mutex
	nacks map[uint16]int
	plis  int
	// h264 sends H.264 single NAL units instead of VP8; size, if set, is
	// their size in bytes.
	h264 bool
	size int
	// ignorePLI makes the publisher an encoder that sends keyframes only
	// on its own schedule (OBS, ffmpeg); keyEvery is that schedule, by the
	// clock (0: none).
	ignorePLI bool
	keyEvery  time.Duration
	// minKeyGap makes it drop the requests that arrive within that time of
	// its last keyframe, as libwebrtc does (300 ms); keys and dropped count
	// the keyframes it sent and the requests it dropped.
	minKeyGap         time.Duration
	keys, droppedPLIs int
	// drop says which first copies of the media SSRC are lost.
	drop  map[uint16]bool
	seen  map[uint16]bool
	plisC chan struct{}
}

// publishLossy publishes one video track (VP8, or H.264 in a broadcast room).
func publishLossy(t *testing.T, p *Participant, mime string) *lossyPublisher {
	t.Helper()
	lp := &lossyPublisher{nacks: map[uint16]int{}, drop: map[uint16]bool{}, seen: map[uint16]bool{}, plisC: make(chan struct{}, 64)}
	api := peertest.NewAPI(t, peertest.Options{Interceptors: func(m *webrtc.MediaEngine, reg *interceptor.Registry) error {
		reg.Add(&dropFilter{drop: lp.dropped})
		if err := webrtc.ConfigureNack(m, reg); err != nil {
			return err
		}
		return webrtc.ConfigureRTCPReports(reg)
	}})
	pc := peertest.NewPeer(t, api, webrtc.Configuration{})
	codec := webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}
	if mime == webrtc.MimeTypeH264 {
		codec.SDPFmtpLine = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	}
	tr, err := webrtc.NewTrackLocalStaticRTP(codec, "cam", "stream-"+p.identity)
	if err != nil {
		t.Fatal(err)
	}
	sender, err := pc.AddTrack(tr)
	if err != nil {
		t.Fatal(err)
	}
	lp.pc, lp.track, lp.h264 = pc, tr, mime == webrtc.MimeTypeH264
	publishOn(t, p, pc, map[string]string{"cam": SourceCamera})
	lp.ssrc = uint32(sender.GetParameters().Encodings[0].SSRC)
	go func() {
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			lp.mu.Lock()
			for _, pkt := range pkts {
				switch pk := pkt.(type) {
				case *rtcp.TransportLayerNack:
					for _, pair := range pk.Nacks {
						for _, seq := range pair.PacketList() {
							lp.nacks[seq]++
						}
					}
				case *rtcp.PictureLossIndication:
					lp.plis++
					select {
					case lp.plisC <- struct{}{}:
					default:
					}
				}
			}
			lp.mu.Unlock()
		}
	}()
	return lp
}

// dropped reports whether the filter loses this packet: the first copy of a
// chosen sequence number on the media SSRC (retransmissions come on RTX).
func (lp *lossyPublisher) dropped(h *rtp.Header) bool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if h.SSRC != lp.ssrc || !lp.drop[h.SequenceNumber] || lp.seen[h.SequenceNumber] {
		return false
	}
	lp.seen[h.SequenceNumber] = true
	return true
}

func (lp *lossyPublisher) nackCount(seq uint16) int {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return lp.nacks[seq]
}

func (lp *lossyPublisher) pliCount() int {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return lp.plis
}

// send writes one VP8 packet whose payload carries its sequence number.
func (lp *lossyPublisher) send(seq uint16, key bool) {
	payload := append([]byte(nil), vp8Delta...)
	switch {
	case lp.h264 && key:
		payload = []byte{0x65, 0x88, 0x84} // IDR slice
	case lp.h264:
		payload = []byte{0x41, 0x9a, 0x02} // non-IDR slice
	case key:
		payload = append([]byte(nil), vp8Key...)
	}
	if lp.h264 && lp.size > len(payload)+2 {
		payload = append(payload, make([]byte, lp.size-len(payload)-2)...)
	}
	payload = binary.BigEndian.AppendUint16(payload, seq)
	_ = lp.track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 450, Marker: true}, Payload: payload})
}

// pumpSeqs sends sequence numbers [from, to) 5 ms apart, skipping those in
// never (lost for good: not even the publisher keeps them), a keyframe first.
func (lp *lossyPublisher) pumpSeqs(from, to uint16, never map[uint16]bool) {
	lp.pumpGOP(from, to, never, 0, nil)
}

// pumpGOP is pumpSeqs with a keyframe every gop packets too (0: only when
// asked), until stop is closed.
func (lp *lossyPublisher) pumpGOP(from, to uint16, never map[uint16]bool, gop int, stop <-chan struct{}) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	lastKey := time.Now()
	for seq := from; seq != to; seq++ {
		select {
		case <-tick.C:
		case <-stop:
			return
		}
		key := seq == from || (gop > 0 && int(seq-from)%gop == 0)
		if lp.keyEvery > 0 && time.Since(lastKey) >= lp.keyEvery {
			key = true
		}
		select {
		case <-lp.plisC:
			if !key && lp.minKeyGap > 0 && time.Since(lastKey) < lp.minKeyGap {
				lp.mu.Lock()
				lp.droppedPLIs++
				lp.mu.Unlock()
				break
			}
			key = key || !lp.ignorePLI // answer keyframe requests, as browsers do
		default:
		}
		if key {
			lastKey = time.Now()
			lp.mu.Lock()
			lp.keys++
			lp.mu.Unlock()
		}
		if !never[seq] {
			lp.send(seq, key)
		}
	}
}

// receivedSeqs collects the sequence tags of the payloads a subscriber gets.
func receivedSeqs(s *testSubscriber, stop <-chan struct{}) (func() map[uint16]int, <-chan struct{}) {
	var mu sync.Mutex
	got := map[uint16]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case p := <-s.payloads:
				if len(p) >= 2 {
					mu.Lock()
					got[binary.BigEndian.Uint16(p[len(p)-2:])]++
					mu.Unlock()
				}
			}
		}
	}()
	return func() map[uint16]int {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[uint16]int, len(got))
		for k, v := range got {
			out[k] = v
		}
		return out
	}, done
}

// TestPublisherLossIsRepairedOnce: packets lost on the publisher's uplink are
// NACKed at most maxNackTries times each, recovered from the publisher's RTX
// stream, and reach the subscriber (which NACKs its gap) once; packets lost
// for good are NACKed at most maxNackTries times, however long the stream
// goes on.
func TestPublisherLossIsRepairedOnce(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("repair", RoomOptions{})
	sub := subscribe(t, join(t, room, "sub", access.Subscribe))
	// A subscriber that never NACKs is never sent a recovered packet.
	quietPC := peertest.NewPeer(t, peertest.NewAPI(t, peertest.Options{Interceptors: peertest.NoInterceptors}), webrtc.Configuration{})
	quiet := subscribeOn(t, join(t, room, "quiet", access.Subscribe), quietPC)
	t.Cleanup(quiet.close)
	host := join(t, room, "host", everyone)
	pub := publishLossy(t, host, webrtc.MimeTypeVP8)

	// Warm up until the subscriber receives media.
	warm := make(chan struct{})
	go func() {
		defer close(warm)
		pub.pumpSeqs(1, 200, nil)
	}()
	sub.waitSources(10*time.Second, SourceCamera)
	quiet.waitSources(10*time.Second, SourceCamera)
	<-warm

	stop := make(chan struct{})
	seqs, collected := receivedSeqs(sub, stop)
	quietSeqs, quietCollected := receivedSeqs(quiet, stop)
	lost := map[uint16]bool{}
	never := map[uint16]bool{}
	for seq := uint16(300); seq < 900; seq += 37 {
		lost[seq] = true
	}
	for seq := uint16(320); seq < 900; seq += 101 {
		if !lost[seq] {
			never[seq] = true
		}
	}
	pub.mu.Lock()
	for seq := range lost {
		pub.drop[seq] = true
	}
	pub.mu.Unlock()
	pub.pumpSeqs(200, 1100, never)

	deadline := time.Now().Add(10 * time.Second)
	for {
		got := seqs()
		missing := 0
		for seq := range lost {
			if got[seq] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d packets lost on the uplink never reached the subscriber", missing, len(lost))
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	<-collected
	<-quietCollected
	got, gotQuiet := seqs(), quietSeqs()
	if len(gotQuiet) < 500 {
		t.Fatalf("the subscriber without NACKs got %d packets", len(gotQuiet))
	}
	for seq := range lost {
		if gotQuiet[seq] > 0 {
			t.Errorf("packet %d, recovered from the publisher, went to a subscriber that did not ask for it", seq)
		}
	}
	dups := 0
	for seq := range lost {
		if n := pub.nackCount(seq); n < 1 || n > maxNackTries {
			t.Errorf("packet %d lost once was NACKed %d times, want 1..%d", seq, n, maxNackTries)
		}
		if got[seq] > 1 {
			dups++
		}
	}
	// The subscriber's own NACK generator may ask again before the first
	// answer lands; most packets must still arrive once.
	if dups > len(lost)/2 {
		t.Errorf("%d of %d recovered packets reached the subscriber more than once", dups, len(lost))
	}
	for seq := range never {
		if n := pub.nackCount(seq); n < 1 || n > maxNackTries {
			t.Errorf("packet %d lost for good was NACKed %d times, want 1..%d", seq, n, maxNackTries)
		}
	}
	if st := s.Stats(); st.Recovered < uint64(len(lost)) {
		t.Errorf("stats: %d recovered, want at least %d", st.Recovered, len(lost))
	}
}

// TestNoNACKsForASilentLayer: packets lost just before a layer stops are not
// asked for again when it resumes more than a second later (an encoder that
// paused the layer); pion's generator asked ten times a second without end.
func TestNoNACKsForASilentLayer(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("silent", RoomOptions{})
	sub := subscribe(t, join(t, room, "sub", access.Subscribe))
	host := join(t, room, "host", everyone)
	pub := publishLossy(t, host, webrtc.MimeTypeVP8)
	warm := make(chan struct{})
	go func() {
		defer close(warm)
		pub.pumpSeqs(1, 100, nil)
	}()
	sub.waitSources(10*time.Second, SourceCamera)
	<-warm

	// 195..199 are lost for good; 200 shows the gap, and the NACKs are sent
	// as the next packets arrive; then the layer pauses.
	never := map[uint16]bool{195: true, 196: true, 197: true, 198: true, 199: true}
	pub.pumpSeqs(100, 231, never)
	deadline := time.Now().Add(5 * time.Second)
	for pub.nackCount(197) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the gap before the pause was never NACKed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Wait until the layer counts as silent, by the SFU's own clock.
	tr := room.Tracks()[0]
	l := tr.layerAt(0)
	for !l.silent(time.Now()) {
		time.Sleep(50 * time.Millisecond)
	}
	before := pub.nackCount(197)
	pub.pumpSeqs(231, 500, nil)
	if n := pub.nackCount(197); n != before {
		t.Errorf("a packet lost before the layer went silent was NACKed %d more times after it resumed", n-before)
	}
	if n := pub.nackCount(197); n > maxNackTries {
		t.Errorf("NACKed %d times, want at most %d", n, maxNackTries)
	}
}

// FuzzNackGenerator feeds a publisher's sequence numbers (two bytes each, a
// third byte of milliseconds before the packet) to the generator: no packet
// is NACKed more than maxNackTries times, the missing list stays bounded, and
// a packet is never both new and recovered, and the NACKs stay in budget.
func FuzzNackGenerator(f *testing.F) {
	f.Add([]byte{0, 1, 5, 0, 3, 5, 0, 4, 40, 0, 5, 40, 0, 2, 5})
	f.Add([]byte{0, 1, 5, 0xff, 0xff, 5, 0, 0, 5, 0x80, 0, 255})
	f.Add([]byte{0, 1, 5, 0, 200, 5, 0, 201, 200, 0, 202, 200, 0, 203, 200})
	f.Fuzz(func(t *testing.T, data []byte) {
		var g nackGenerator
		var r nackResult
		now := time.Unix(0, 0)
		counts := map[uint16]int{}
		news, nacked := 0, 0
		for len(data) >= 3 {
			seq := uint16(data[0])<<8 | uint16(data[1])
			now = now.Add(time.Duration(data[2]) * time.Millisecond)
			data = data[3:]
			g.received(seq, now, &r)
			if r.kind == arrivalNew {
				news++
			}
			nacked += len(r.nack)
			if most := nackBurst + int(float64(news)*nackBudget) + 1; nacked > most {
				t.Fatalf("%d NACKs after %d packets, over the budget of %d", nacked, news, most)
			}
			for _, s := range r.nack {
				counts[s]++
				if counts[s] > maxNackTries {
					t.Fatalf("packet %d NACKed %d times", s, counts[s])
				}
			}
			if len(g.missing) > maxMissing {
				t.Fatalf("%d packets missing at once", len(g.missing))
			}
			if r.kind == arrivalRecovered && counts[seq] == 0 {
				t.Fatalf("packet %d recovered without a NACK", seq)
			}
			if r.kind != arrivalDuplicate {
				delete(counts, seq) // the number may come round again
			}
		}
	})
}

// TestNACKBudget: on an uplink losing every third packet, the NACKs stay
// within nackBudget of the packets received (after the first burst).
func TestNACKBudget(t *testing.T) {
	var g nackGenerator
	var r nackResult
	now := time.Unix(0, 0)
	received, nacked := 0, 0
	for seq := uint16(0); seq < 3000; seq++ {
		now = now.Add(5 * time.Millisecond)
		if seq%3 == 1 {
			continue
		}
		g.received(seq, now, &r)
		received++
		nacked += len(r.nack)
	}
	if most := nackBurst + received/10 + 1; nacked > most || nacked < received/20 {
		t.Errorf("%d NACKs for %d packets received, want %d to %d", nacked, received, received/20, most)
	}
}
