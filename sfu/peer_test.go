package sfu

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/internal/peertest"
)

// Test helpers: an SFU on a loopback port, and real pion peers that publish
// synthetic RTP and count what they receive.

func newTestSFU(t testing.TB) *SFU {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(Config{UDPPort: 0, ListenIP: "127.0.0.1", Loopback: true}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func join(t testing.TB, r *Room, identity string, perms access.Permissions) *Participant {
	t.Helper()
	p, err := r.Join(ParticipantOptions{Identity: identity, Name: identity, Kind: KindBrowser, Permissions: perms, AutoSubscribe: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close("test over") })
	return p
}

var everyone = (access.Publish | access.Subscribe | access.List)

// testPublisher sends synthetic media from a pion peer through Publish.
type testPublisher struct {
	pc     *webrtc.PeerConnection
	tracks map[string]*webrtc.TrackLocalStaticRTP
}

// publishTracks negotiates one track per source; video is VP8 unless mime says otherwise.
func publishTracks(t testing.TB, p *Participant, mime string, sources ...string) *testPublisher {
	t.Helper()
	pc := peertest.NewPeer(t, nil, webrtc.Configuration{})
	tp := &testPublisher{pc: pc, tracks: map[string]*webrtc.TrackLocalStaticRTP{}}
	names := map[string]string{}
	for _, src := range sources {
		codec := webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}
		if src == SourceMicrophone || src == SourceScreenAudio {
			codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
		}
		if mime == webrtc.MimeTypeH264 && codec.ClockRate == 90000 {
			codec.SDPFmtpLine = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
		}
		tp.tracks[src], _ = peertest.SendTrack(t, pc, codec, "id-"+src, "stream-"+p.identity)
		names["id-"+src] = src
	}
	publishOn(t, p, pc, names)
	return tp
}

// publishOn offers pc's tracks to p with Publish, names mapping track IDs to
// sources, and applies the SFU's answer.
func publishOn(t testing.TB, p *Participant, pc *webrtc.PeerConnection, names map[string]string) {
	t.Helper()
	answer, err := p.Publish(peertest.Offer(t, pc), names)
	if err != nil {
		t.Fatal(err)
	}
	peertest.Accept(t, pc, answer)
}

// vp8Key and vp8Delta are minimal VP8 payloads: descriptor S=1, then a frame
// header whose P bit says keyframe or not.
var (
	vp8Key   = []byte{0x10, 0x00, 0x9d, 0x01, 0x2a}
	vp8Delta = []byte{0x10, 0x01, 0x00, 0x00, 0x00}
)

// pump writes packets to every track of tp every 5 ms until stop is closed. Video
// sends a keyframe every 10th packet.
func (tp *testPublisher) pump(stop <-chan struct{}) {
	seq := uint16(0)
	peertest.Tick(stop, 5*time.Millisecond, func(i int) {
		seq++
		for src, tr := range tp.tracks {
			payload := vp8Delta
			if i%10 == 0 {
				payload = vp8Key
			}
			if src == SourceMicrophone || src == SourceScreenAudio {
				payload = []byte{0xfc, 0xff, 0xfe}
			}
			_ = tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(i) * 450, Marker: true}, Payload: payload})
		}
	})
}

// testSubscriber answers the SFU's offers for a participant and counts packets by source.
type testSubscriber struct {
	t  testing.TB
	p  *Participant
	pc *webrtc.PeerConnection

	mu       sync.Mutex
	counts   map[string]int // by source
	sources  map[string]string
	events   []Event
	got      chan string // source of each received packet, non-blocking
	payloads chan []byte
	// video gets a copy of every video packet, until it is full.
	video    chan *rtp.Packet
	quit     chan struct{}
	ended    chan struct{}
	lastSeq  uint16
	lastSSRC uint32
	padding  int
	maxVideo int // the largest video packet, in bytes
}

// maxVideoSize returns the size of the largest video packet received.
func (s *testSubscriber) maxVideoSize() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxVideo
}

// lastVideo returns the sequence number and SSRC of the last video packet.
func (s *testSubscriber) lastVideo() (uint16, uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSeq, s.lastSSRC
}

func subscribe(t testing.TB, p *Participant) *testSubscriber {
	t.Helper()
	s := subscribeNoCleanup(t, p)
	t.Cleanup(s.close)
	return s
}

// subscribeNoCleanup is subscribe for callers that close the subscriber themselves.
func subscribeNoCleanup(t testing.TB, p *Participant) *testSubscriber {
	t.Helper()
	return subscribeWith(t, p, nil)
}

// subscribeWith is subscribeNoCleanup with a pion API of the caller's (nil: peertest's defaults).
func subscribeWith(t testing.TB, p *Participant, api *webrtc.API) *testSubscriber {
	t.Helper()
	return subscribeOn(t, p, peertest.NewPeer(t, api, webrtc.Configuration{}))
}

// subscribeOn is subscribe on a peer connection the caller made.
func subscribeOn(t testing.TB, p *Participant, pc *webrtc.PeerConnection) *testSubscriber {
	t.Helper()
	s := &testSubscriber{t: t, p: p, pc: pc, counts: map[string]int{}, sources: map[string]string{},
		got: make(chan string, 4096), payloads: make(chan []byte, 4096), video: make(chan *rtp.Packet, 8192)}
	peertest.ReadTracks(t, pc, func(tr *webrtc.TrackRemote, pkt *rtp.Packet) {
		if len(pkt.Payload) == 0 {
			// Padding (a bandwidth probe) carries no media.
			s.mu.Lock()
			s.padding++
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		src := s.sources[tr.ID()]
		s.counts[src]++
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			s.lastSeq, s.lastSSRC = pkt.SequenceNumber, pkt.SSRC
			s.maxVideo = max(s.maxVideo, pkt.MarshalSize())
			select {
			case s.video <- pkt.Clone():
			default:
			}
		}
		s.mu.Unlock()
		select {
		case s.got <- src:
		default:
		}
		select {
		case s.payloads <- pkt.Payload:
		default:
		}
	})
	s.quit, s.ended = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.ended)
		s.loop(s.quit)
	}()
	return s
}

// close stops answering offers and closes the peer connection.
func (s *testSubscriber) close() {
	close(s.quit)
	<-s.ended
	s.pc.Close()
}

// loop answers offers and records other events until the participant leaves.
func (s *testSubscriber) loop(quit <-chan struct{}) {
	for {
		select {
		case <-quit:
			return
		case <-s.p.Done():
			return
		case ev := <-s.p.Events():
			s.mu.Lock()
			s.events = append(s.events, ev)
			for id, info := range ev.Tracks {
				s.sources[id] = info.Source
			}
			s.mu.Unlock()
			if ev.Type != EventOffer {
				continue
			}
			answer, err := peertest.Answer(s.pc, ev.SDP)
			if err != nil {
				s.t.Errorf("subscriber answer: %v", err)
				return
			}
			if err := s.p.Answer(answer); err != nil {
				s.t.Errorf("answer: %v", err)
			}
		}
	}
}

// waitSources waits until a packet of every source has arrived.
func (s *testSubscriber) waitSources(timeout time.Duration, sources ...string) {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		missing := ""
		for _, src := range sources {
			if s.counts[src] == 0 {
				missing = src
			}
		}
		s.mu.Unlock()
		if missing == "" {
			return
		}
		select {
		case <-s.got:
		case <-deadline:
			s.t.Fatalf("%s: no %s packets within %v", s.p.identity, missing, timeout)
		}
	}
}

func (s *testSubscriber) count(src string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[src]
}

func (s *testSubscriber) sawEvent(typ string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range s.events {
		if ev.Type == typ {
			return true
		}
	}
	return false
}
