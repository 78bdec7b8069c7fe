package sfu

import (
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// shaper is a test subscriber's link: every packet passes a queue drained
// at rate bits per second that holds at most 100 ms and drops beyond, like
// tc's tbf. rate 0 is unlimited.
type shaper struct {
	rate atomic.Int64

	mu sync.Mutex
	// free is when the link has sent everything queued.
	free time.Time
}

func (s *shaper) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &shaperInterceptor{s: s}, nil
}

type shaperInterceptor struct {
	interceptor.NoOp
	s *shaper
}

// shaped is a packet on the link and when it leaves it.
type shaped struct {
	buf  []byte
	attr interceptor.Attributes
	at   time.Time
}

// BindRemoteStream reads the stream as it arrives (a goroutine per stream,
// ending with it) and hands each packet on when the link has carried it.
func (i *shaperInterceptor) BindRemoteStream(_ *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	ch := make(chan shaped, 4096)
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 1500)
			n, attr, err := r.Read(buf, nil)
			if err != nil {
				return
			}
			if at, ok := i.s.admit(n); ok {
				select {
				case ch <- shaped{buf[:n], attr, at}:
				default:
				}
			}
		}
	}()
	return interceptor.RTPReaderFunc(func(b []byte, _ interceptor.Attributes) (int, interceptor.Attributes, error) {
		p, ok := <-ch
		if !ok {
			return 0, nil, io.EOF
		}
		if d := time.Until(p.at); d > 0 {
			// The link's transmission and queueing delay.
			time.Sleep(d)
		}
		return copy(b, p.buf), p.attr, nil
	})
}

// admit queues a packet of n bytes: when it leaves the link, or false if the queue is full.
func (s *shaper) admit(n int) (time.Time, bool) {
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

// shapedAPI is pion's default API (codecs, NACK, reports, TWCC feedback)
// receiving through sh.
func shapedAPI(t *testing.T, sh *shaper) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	reg.Add(sh)
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg))
}

// pumpSized sends VP8 on the three layers every 5 ms with payloads of the
// given sizes (the layers' bitrates), a keyframe every 40 packets, each
// packet a whole frame. The last payload byte is the layer.
func (sp *simulcastPublisher) pumpSized(stop <-chan struct{}, sizes [3]int) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		for li, tr := range sp.layers {
			payload := make([]byte, sizes[li])
			copy(payload, []byte{0x10, 0x01})
			if i%40 == 0 {
				copy(payload, []byte{0x10, 0x00, 0x9d})
			}
			payload[len(payload)-1] = byte(li)
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(i), Timestamp: uint32(i) * 450}, Payload: payload}
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
	sub := subscribe(t, join(t, room, "viewer", Permissions{Subscribe: true, List: true}))
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

// TestEstimateFollowsTheLink limits a subscriber's link to 400 kbit/s and
// frees it again: the estimate and the forwarded layer fall, then probing
// brings the subscriber back to the top layer.
func TestEstimateFollowsTheLink(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 20 s")
	}
	s := newTestSFU(t)
	room, _ := s.Room("bwe", RoomOptions{Tier: TierFHD})
	sh := &shaper{}
	viewer := join(t, room, "viewer", Permissions{Subscribe: true, List: true})
	sub := subscribeWith(t, viewer, shapedAPI(t, sh))
	t.Cleanup(sub.close)
	pub := publishSimulcast(t, join(t, room, "host", everyone))
	stop := make(chan struct{})
	defer close(stop)
	// About 0.2, 0.55 and 1.6 Mbit/s.
	go pub.pumpSized(stop, [3]int{90, 300, 950})
	tracks := waitLayers(t, room, 3)
	d := viewer.down(tracks[0].ID())
	est := viewer.est.Load()
	current := func() int { c, _ := d.layers(); return c }

	took := poll(t, 60*time.Second, "the top layer on a free link", func() bool { return current() == 2 })
	t.Logf("top layer after %v, estimate %d", took, est.last.Load())

	sh.rate.Store(400_000)
	took = poll(t, 60*time.Second, "the lowest layer on a 400 kbit/s link", func() bool {
		return current() == 0 && est.last.Load() < 600_000
	})
	t.Logf("limited: lowest layer after %v, estimate %d", took, est.last.Load())

	sh.rate.Store(0)
	took = poll(t, 60*time.Second, "the top layer again on a free link", func() bool { return current() == 2 })
	t.Logf("freed: top layer after %v, estimate %d, padding packets %d", took, est.last.Load(), sub.padding)
	if took > 10*time.Second {
		t.Logf("slower than the 10 s target (a loaded machine?)")
	}
}

// TestSlowSubscriberDoesNotDelayOthers has one subscriber whose queue is
// paced to a trickle and one that reads normally: the normal one keeps
// receiving every packet while the slow one's queue drops old packets.
func TestSlowSubscriberDoesNotDelayOthers(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("slow", RoomOptions{})
	slow := join(t, room, "slow", Permissions{Subscribe: true, List: true})
	slowSub := subscribe(t, slow)
	fast := subscribe(t, join(t, room, "fast", Permissions{Subscribe: true, List: true}))
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

	start := fast.count(SourceCamera)
	startAt := time.Now()
	// The publisher sends 200 packets a second; the fast subscriber gets them
	// all, whatever the stalled one does.
	poll(t, 20*time.Second, "400 packets at the fast subscriber", func() bool { return fast.count(SourceCamera)-start >= 400 })
	if el := time.Since(startAt); el > 6*time.Second {
		t.Errorf("400 packets took %v at 200 a second", el)
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
