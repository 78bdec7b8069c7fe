package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// clientAPI is the pion stack of bench peers: default codecs, NACK generation
// and receiver reports, like a browser's feedback but without its statistics.
var clientAPI = sync.OnceValue(func() *webrtc.API {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		panic(err)
	}
	reg := &interceptor.Registry{}
	if gen, err := nack.NewGeneratorInterceptor(); err == nil {
		reg.Add(gen)
	}
	if rr, err := report.NewReceiverInterceptor(); err == nil {
		reg.Add(rr)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg))
})

// wsConn is a bench client's room websocket.
type wsConn struct {
	c *websocket.Conn
}

func dialWS(ctx context.Context, base, room, token string) (*wsConn, error) {
	url := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/rooms/" + room + "/ws"
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	return &wsConn{c: c}, nil
}

func (w *wsConn) send(ctx context.Context, m map[string]any) error {
	data, _ := json.Marshal(m)
	return w.c.Write(ctx, websocket.MessageText, data)
}

func (w *wsConn) read(ctx context.Context) (map[string]any, error) {
	_, data, err := w.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(data, &m)
}

// benchPublisher sends synthetic camera video at a bitrate: 30 frames a second,
// a keyframe every 2 s, 1,100-byte packets.
type benchPublisher struct {
	ws   *wsConn
	pc   *webrtc.PeerConnection
	sent atomic.Uint64
	stop chan struct{}
	done chan struct{}
	// pli asks the pump for a keyframe, as a browser's encoder would give.
	pli chan struct{}
}

// readRTCP turns the server's PLIs into keyframes.
func (p *benchPublisher) readRTCP(sender *webrtc.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			if _, ok := pkt.(*rtcp.PictureLossIndication); ok {
				select {
				case p.pli <- struct{}{}:
				default:
				}
			}
		}
	}
}

func startPublisher(ctx context.Context, base, room, token, codec string, bitrate int) (*benchPublisher, error) {
	ws, err := dialWS(ctx, base, room, token)
	if err != nil {
		return nil, err
	}
	if _, err := ws.read(ctx); err != nil { // welcome
		return nil, err
	}
	pc, err := clientAPI().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	mime, fmtp := webrtc.MimeTypeVP8, ""
	if codec == "h264" {
		mime, fmtp = webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	}
	track, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000, SDPFmtpLine: fmtp}, "cam", "bench")
	tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, err
	}
	offer, _ := pc.CreateOffer(nil)
	gathered := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(offer)
	<-gathered
	if err := ws.send(ctx, map[string]any{"type": "publish", "sdp": pc.LocalDescription().SDP, "sources": map[string]string{"cam": "camera"}}); err != nil {
		return nil, err
	}
	for {
		m, err := ws.read(ctx)
		if err != nil {
			return nil, err
		}
		if m["type"] == "error" {
			return nil, fmt.Errorf("publish refused: %v", m["message"])
		}
		if m["type"] == "answer" {
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m["sdp"].(string)}); err != nil {
				return nil, err
			}
			break
		}
	}
	p := &benchPublisher{ws: ws, pc: pc, stop: make(chan struct{}), done: make(chan struct{}), pli: make(chan struct{}, 1)}
	go p.drain(ctx)
	go p.readRTCP(tr.Sender())
	go p.pump(track, codec, bitrate)
	return p, nil
}

// drain reads and drops the publisher's websocket messages.
func (p *benchPublisher) drain(ctx context.Context) {
	for {
		if _, err := p.ws.read(ctx); err != nil {
			return
		}
	}
}

func (p *benchPublisher) pump(track *webrtc.TrackLocalStaticRTP, codec string, bitrate int) {
	defer close(p.done)
	const fps, size = 30, 1100
	perFrame := max(1, bitrate/8/fps/size)
	payload := make([]byte, size)
	tick := time.NewTicker(time.Second / fps)
	defer tick.Stop()
	seq := uint16(0)
	for frame := 0; ; frame++ {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		key := frame%(2*fps) == 0
		select {
		case <-p.pli:
			key = true
		default:
		}
		for i := range perFrame {
			switch {
			case codec == "vp8" && i == 0 && key:
				payload[0], payload[1], payload[2] = 0x10, 0x00, 0x9d
			case codec == "vp8" && i == 0:
				payload[0], payload[1] = 0x10, 0x01
			case codec == "vp8":
				payload[0] = 0x00
			case key: // H.264: an IDR in FU-A fragments
				payload[0], payload[1] = 0x7c, 0x05
				if i == 0 {
					payload[1] |= 0x80
				}
			default: // a non-IDR slice in FU-A fragments
				payload[0], payload[1] = 0x5c, 0x01
			}
			seq++
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(frame * 90000 / fps), Marker: i == perFrame-1}, Payload: payload}
			if track.WriteRTP(pkt) == nil {
				p.sent.Add(1)
			}
		}
	}
}

func (p *benchPublisher) reset() { p.sent.Store(0) }

func (p *benchPublisher) close() {
	close(p.stop)
	<-p.done
	p.pc.Close()
	p.ws.c.Close(websocket.StatusNormalClosure, "bench over")
}

// benchSubscriber answers the server's offers and measures what arrives.
type benchSubscriber struct {
	ws     *wsConn
	pc     *webrtc.PeerConnection
	joined time.Time
	first  chan struct{}
	once   sync.Once

	mu         sync.Mutex
	received   uint64
	lost       uint64
	late       uint64
	lastSeq    map[uint32]uint16
	firstFrame time.Duration
	// RFC 3550 section 6.4.1 interarrival jitter, in 90 kHz units, per SSRC.
	jitter  map[uint32]float64
	transit map[uint32]float64
	cancel  context.CancelFunc
	done    chan struct{}
}

type subStats struct {
	received, lost, late uint64
	jitterMS             float64
	firstFrame           time.Duration
}

func startSubscriber(ctx context.Context, base, room, token string) (*benchSubscriber, error) {
	joined := time.Now()
	ws, err := dialWS(ctx, base, room, token)
	if err != nil {
		return nil, err
	}
	pc, err := clientAPI().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &benchSubscriber{ws: ws, pc: pc, joined: joined, first: make(chan struct{}), lastSeq: map[uint32]uint16{},
		jitter: map[uint32]float64{}, transit: map[uint32]float64{}, cancel: cancel, done: make(chan struct{})}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { go s.read(tr) })
	go s.signal(sctx)
	return s, nil
}

// signal answers offers until the bench ends.
func (s *benchSubscriber) signal(ctx context.Context) {
	defer close(s.done)
	for {
		m, err := s.ws.read(ctx)
		if err != nil {
			return
		}
		if m["type"] != "offer" {
			continue
		}
		if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m["sdp"].(string)}); err != nil {
			return
		}
		ans, err := s.pc.CreateAnswer(nil)
		if err != nil {
			return
		}
		gathered := webrtc.GatheringCompletePromise(s.pc)
		s.pc.SetLocalDescription(ans)
		<-gathered
		if s.ws.send(ctx, map[string]any{"type": "answer", "sdp": s.pc.LocalDescription().SDP}) != nil {
			return
		}
	}
}

func (s *benchSubscriber) read(tr *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	var h rtp.Header
	clock := float64(tr.Codec().ClockRate)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		if _, err := h.Unmarshal(buf[:n]); err != nil {
			continue
		}
		now := time.Now()
		s.mu.Lock()
		if last, ok := s.lastSeq[h.SSRC]; ok {
			switch d := int16(h.SequenceNumber - last); {
			case d <= 0:
				// A retransmission or a late packet: it fills a gap counted as lost.
				s.late++
				if s.lost > 0 {
					s.lost--
				}
				s.mu.Unlock()
				continue
			case d > 1:
				s.lost += uint64(d - 1)

			}
		}
		s.received++
		s.lastSeq[h.SSRC] = h.SequenceNumber
		arrival := float64(now.UnixNano()) / 1e9 * clock
		transit := arrival - float64(h.Timestamp)
		if prev, ok := s.transit[h.SSRC]; ok {
			d := transit - prev
			if d < 0 {
				d = -d
			}
			s.jitter[h.SSRC] += (d - s.jitter[h.SSRC]) / 16
		}
		s.transit[h.SSRC] = transit
		s.mu.Unlock()
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			s.once.Do(func() {
				s.mu.Lock()
				s.firstFrame = now.Sub(s.joined)
				s.mu.Unlock()
				close(s.first)
			})
		}
	}
}

func (s *benchSubscriber) reset() {
	s.mu.Lock()
	s.received, s.lost, s.late = 0, 0, 0
	s.mu.Unlock()
}

func (s *benchSubscriber) stats() subStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := subStats{received: s.received, lost: s.lost, late: s.late, firstFrame: s.firstFrame}
	for _, j := range s.jitter {
		st.jitterMS = max(st.jitterMS, j/90)
	}
	return st
}

func (s *benchSubscriber) close() {
	s.cancel()
	s.ws.c.Close(websocket.StatusNormalClosure, "bench over")
	<-s.done
	s.pc.Close()
}
