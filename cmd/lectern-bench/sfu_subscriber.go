package main

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// rembInterval is how often subscribers send their bandwidth estimate, as Chrome
// does about once a second.
const rembInterval = time.Second

// subscriberAPI is the pion stack of bench subscribers: every codec a browser
// takes, NACK generation and receiver reports; REMB is sent by the subscriber
// itself. Nothing else runs per packet, so the bench spends its CPU on SRTP.
func subscriberAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, err
	}
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, err
	}
	reg.Add(gen)
	reg.Add(rr)
	se := loopbackSettings()
	// Browsers accept packets up to 1,024 behind the newest (libwebrtc's SRTP
	// replay window), so that answers to NACKs arriving late still count; pion's
	// default of 64 would drop them and make the subscriber NACK again.
	se.SetSRTPReplayProtectionWindow(1024)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// benchSubscriber joins a room over the websocket, answers the server's offers
// and measures every track it receives. Its goroutines (signaling, REMB, one
// reader and one RTCP reader per track) end when close is called, which waits.
type benchSubscriber struct {
	ws     *wsConn
	pc     *webrtc.PeerConnection
	remb   float32
	dialed time.Time
	first  chan struct{} // closed at the first video packet
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	connectedAt time.Time
	firstAt     time.Time
	streams     []*streamStats
	err         error // why signaling ended early, if it did
}

// startSubscriber connects and starts answering; media arrives asynchronously.
// remb is the bandwidth estimate it reports, in bits per second.
func startSubscriber(ctx context.Context, api *webrtc.API, base, room, token string, remb int) (*benchSubscriber, error) {
	dialed := time.Now()
	ws, err := dialWS(ctx, base, room, token)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		ws.close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &benchSubscriber{ws: ws, pc: pc, remb: float32(remb), dialed: dialed, first: make(chan struct{}), cancel: cancel}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			s.mu.Lock()
			if s.connectedAt.IsZero() {
				s.connectedAt = time.Now()
			}
			s.mu.Unlock()
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		st := &streamStats{video: tr.Kind() == webrtc.RTPCodecTypeVideo, clock: float64(tr.Codec().ClockRate), ssrc: uint32(tr.SSRC())}
		s.mu.Lock()
		s.streams = append(s.streams, st)
		s.mu.Unlock()
		s.wg.Add(2)
		go s.read(tr, st)
		go s.readRTCP(recv)
	})
	s.wg.Add(2)
	go s.signal(sctx)
	go s.sendREMB(sctx)
	return s, nil
}

// signal answers the server's subscriber offers until the socket closes.
func (s *benchSubscriber) signal(ctx context.Context) {
	defer s.wg.Done()
	for {
		m, err := s.ws.read(ctx)
		if err != nil {
			return
		}
		switch m.Type {
		case "offer":
			if err := s.answer(ctx, m.SDP); err != nil {
				s.fail(err)
				return
			}
		case "error":
			s.fail(errorString("server: " + m.Code + ": " + m.Message))
		}
	}
}

func (s *benchSubscriber) answer(ctx context.Context, offer string) error {
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return err
	}
	ans, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(ans); err != nil {
		return err
	}
	<-gathered
	return s.ws.send(ctx, map[string]any{"type": "answer", "sdp": s.pc.LocalDescription().SDP})
}

func (s *benchSubscriber) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

type errorString string

func (e errorString) Error() string { return string(e) }

// sendREMB reports a fixed receive estimate for every stream, the congestion
// feedback a browser gives an SFU that negotiated goog-remb.
func (s *benchSubscriber) sendREMB(ctx context.Context) {
	defer s.wg.Done()
	tick := time.NewTicker(rembInterval)
	defer tick.Stop()
	sender := rand.Uint32()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.mu.Lock()
		ssrcs := make([]uint32, 0, len(s.streams))
		for _, st := range s.streams {
			if st.video {
				ssrcs = append(ssrcs, st.ssrc)
			}
		}
		s.mu.Unlock()
		if len(ssrcs) > 0 {
			_ = s.pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: sender, Bitrate: s.remb, SSRCs: ssrcs}})
		}
	}
}

// readRTCP reads the server's sender reports, which the receiver-report
// interceptor needs for its round-trip fields.
func (s *benchSubscriber) readRTCP(recv *webrtc.RTPReceiver) {
	defer s.wg.Done()
	for {
		if _, _, err := recv.ReadRTCP(); err != nil {
			return
		}
	}
}

// read measures one received track until the connection closes.
func (s *benchSubscriber) read(tr *webrtc.TrackRemote, st *streamStats) {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	var h rtp.Header
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		now := time.Now()
		hn, err := h.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		st.packet(h.SequenceNumber, h.Timestamp, buf[hn:n], now)
		if st.video {
			select {
			case <-s.first:
			default:
				s.mu.Lock()
				if s.firstAt.IsZero() {
					s.firstAt = now
					close(s.first)
				}
				s.mu.Unlock()
			}
		}
	}
}

// joinLatency is the time from the websocket dial to the first video packet,
// and the part of it until the peer connection was connected.
func (s *benchSubscriber) joinLatency() (first, connected time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.firstAt.IsZero() || s.connectedAt.IsZero() {
		return 0, 0, false
	}
	return s.firstAt.Sub(s.dialed), s.connectedAt.Sub(s.dialed), true
}

// reset starts a new measurement window on every stream.
func (s *benchSubscriber) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.streams {
		st.reset()
	}
}

// stats sums the video streams' windows.
func (s *benchSubscriber) stats() streamWindow {
	s.mu.Lock()
	defer s.mu.Unlock()
	var w streamWindow
	for _, st := range s.streams {
		if st.video {
			w.add(st.snapshot())
		}
	}
	return w
}

// close leaves and waits for the subscriber's goroutines.
func (s *benchSubscriber) close() {
	s.cancel()
	s.ws.close()
	s.pc.Close()
	s.wg.Wait()
}
