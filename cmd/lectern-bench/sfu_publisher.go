package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Publisher timing, as a browser's encoder and pacer behave.
const (
	benchFPS = 30
	// gopFrames puts a keyframe every 2 s.
	gopFrames = 2 * benchFPS
	// pacingFactor is how much faster than the bitrate the pacer may send, as
	// in libwebrtc, so a keyframe spreads over a few frame intervals.
	pacingFactor = 2.5
	pacerTick    = 5 * time.Millisecond
)

// publisherOptions describe one synthetic camera.
type publisherOptions struct {
	codec     string // "h264" or "vp8"
	bitrate   int    // of the top layer, bits per second
	width     int
	height    int
	simulcast bool // three layers q, h, f at 1/16, 1/4 and all of the bitrate
}

// benchPublisher is a pion peer publishing one synthetic camera track over the
// room websocket. Its pump goroutine generates and paces the media; one RTCP
// reader per layer turns keyframe requests into keyframes. close waits for all.
type benchPublisher struct {
	ws     *wsConn
	pc     *webrtc.PeerConnection
	codec  string
	layers []*pubLayer
	stop   chan struct{}
	wg     sync.WaitGroup

	mu sync.Mutex
	// window counts what was sent since the last reset.
	window pubWindow
}

// pubLayer is one encoding. Only the pump touches src and seq.
type pubLayer struct {
	index   int
	rid     string
	bitrate int
	track   *webrtc.TrackLocalStaticRTP
	src     *videoSource
	seq     uint16
	tsBase  uint32
	keyWant atomic.Bool
	// midID and ridID are the negotiated header extension IDs (simulcast only).
	midID, ridID uint8
	mid          string
	// jitter is RFC 3550's estimator run on send times, to show how much of the
	// subscribers' jitter the pacer itself puts in.
	jitter  float64
	transit float64
	started bool
}

// pubWindow is what a publisher sent in the measurement window.
type pubWindow struct {
	packets   uint64
	keyframes uint64
	jitterSum float64 // in seconds, summed per packet
	jitterN   uint64
}

// startPublisher joins room, publishes and starts sending. It returns once the
// peer connection is connected.
func startPublisher(ctx context.Context, base, room, token string, o publisherOptions) (*benchPublisher, error) {
	api, err := publisherAPI(o)
	if err != nil {
		return nil, err
	}
	ws, err := dialWS(ctx, base, room, token)
	if err != nil {
		return nil, err
	}
	p := &benchPublisher{ws: ws, codec: o.codec, stop: make(chan struct{})}
	if err := p.negotiate(ctx, api, o); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *benchPublisher) negotiate(ctx context.Context, api *webrtc.API, o publisherOptions) error {
	if _, err := p.ws.expect(ctx, "welcome"); err != nil {
		return err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	p.pc = pc
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	if o.codec == "h264" {
		codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	}
	type enc struct {
		rid  string
		div  int
		w, h int
	}
	encs := []enc{{"", 1, o.width, o.height}}
	if o.simulcast {
		encs = []enc{{"q", 16, o.width / 4, o.height / 4}, {"h", 4, o.width / 2, o.height / 2}, {"f", 1, o.width, o.height}}
	}
	var sender *webrtc.RTPSender
	for i, e := range encs {
		var opts []func(*webrtc.TrackLocalStaticRTP)
		if e.rid != "" {
			opts = append(opts, webrtc.WithRTPStreamID(e.rid))
		}
		track, err := webrtc.NewTrackLocalStaticRTP(codec, "cam", "bench", opts...)
		if err != nil {
			return err
		}
		l := &pubLayer{index: i, rid: e.rid, bitrate: o.bitrate / e.div, track: track, seq: uint16(rand.Uint32()), tsBase: rand.Uint32(),
			src: newVideoSource(o.codec, e.w, e.h, o.bitrate/e.div, benchFPS, gopFrames)}
		p.layers = append(p.layers, l)
		if i == 0 {
			tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
			if err != nil {
				return err
			}
			sender = tr.Sender()
		} else if err := sender.AddEncoding(track); err != nil {
			return err
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	<-gathered
	if err := p.ws.send(ctx, map[string]any{"type": "publish", "id": "pub", "sdp": pc.LocalDescription().SDP, "sources": map[string]string{"cam": "camera"}}); err != nil {
		return err
	}
	m, err := p.ws.expect(ctx, "answer")
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
		return err
	}
	if o.simulcast {
		var midID, ridID uint8
		for _, ext := range sender.GetParameters().HeaderExtensions {
			switch ext.URI {
			case sdp.SDESMidURI:
				midID = uint8(ext.ID)
			case sdp.SDESRTPStreamIDURI:
				ridID = uint8(ext.ID)
			}
		}
		if midID == 0 || ridID == 0 {
			return errors.New("publish: the server did not negotiate the mid and rid extensions for simulcast")
		}
		mid := pc.GetTransceivers()[0].Mid()
		for _, l := range p.layers {
			l.midID, l.ridID, l.mid = midID, ridID, mid
		}
	}
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		return errors.New("publish: not connected within 10 s")
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, l := range p.layers {
		p.wg.Add(1)
		go p.readRTCP(sender, l)
	}
	p.wg.Add(2)
	go p.drain()
	go p.pump()
	return nil
}

// readRTCP turns the SFU's PLI and FIR for a layer into a keyframe on it, as an
// encoder does. Reading also drives the NACK responder.
func (p *benchPublisher) readRTCP(sender *webrtc.RTPSender, l *pubLayer) {
	defer p.wg.Done()
	for {
		var pkts []rtcp.Packet
		var err error
		if l.rid == "" {
			pkts, _, err = sender.ReadRTCP()
		} else {
			pkts, _, err = sender.ReadSimulcastRTCP(l.rid)
		}
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				l.keyWant.Store(true)
			}
		}
	}
}

// drain reads and drops the publisher's websocket messages until it closes.
func (p *benchPublisher) drain() {
	defer p.wg.Done()
	for {
		if _, err := p.ws.read(context.Background()); err != nil {
			return
		}
	}
}

// queued is one packet waiting for the pacer.
type queued struct {
	layer   *pubLayer
	payload []byte
	ts      uint32
	marker  bool
}

// pump makes a frame on every layer each 1/30 s and paces the packets out at
// pacingFactor times the bitrate in 5 ms steps, like a browser's pacer.
func (p *benchPublisher) pump() {
	defer p.wg.Done()
	total := 0
	for _, l := range p.layers {
		total += l.bitrate
	}
	rate := pacingFactor * float64(total) / 8 // bytes per second
	start := time.Now()
	tick := time.NewTicker(pacerTick)
	defer tick.Stop()
	var queue []queued
	budget, last, frame := 0.0, start, 0
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		now := time.Now()
		for ; !start.Add(time.Duration(frame) * time.Second / benchFPS).After(now); frame++ {
			ts := uint32(int64(frame) * 90000 / benchFPS)
			for _, l := range p.layers {
				key := frame%gopFrames == 0 || l.keyWant.Swap(false)
				payloads := l.src.next(key)
				if key {
					p.mu.Lock()
					p.window.keyframes++
					p.mu.Unlock()
				}
				for i, pl := range payloads {
					queue = append(queue, queued{layer: l, payload: pl, ts: l.tsBase + ts, marker: i == len(payloads)-1})
				}
			}
		}
		budget += rate * now.Sub(last).Seconds()
		last = now
		for len(queue) > 0 && budget > 0 {
			q := queue[0]
			queue[0] = queued{}
			queue = queue[1:]
			budget -= float64(len(q.payload))
			p.send(q)
		}
		if len(queue) == 0 {
			budget = min(budget, 0) // an idle pacer does not save up a burst
		}
	}
}

// send writes one packet of a layer, stamped with its send time.
func (p *benchPublisher) send(q queued) {
	l := q.layer
	now := time.Now()
	stamp(p.codec, q.payload, l.index, now)
	l.seq++
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: l.seq, Timestamp: q.ts, Marker: q.marker}, Payload: q.payload}
	if l.ridID != 0 {
		_ = pkt.Header.SetExtension(l.midID, []byte(l.mid))
		_ = pkt.Header.SetExtension(l.ridID, []byte(l.rid))
	}
	if err := l.track.WriteRTP(pkt); err != nil {
		return
	}
	// RFC 3550 section 6.4.1 on the send time: what the pacer alone adds.
	transit := clockUnits(now, 90000) - float64(q.ts)
	if l.started {
		d := transit - l.transit
		if d < 0 {
			d = -d
		}
		l.jitter += (d - l.jitter) / 16
	}
	l.transit, l.started = transit, true
	p.mu.Lock()
	p.window.packets++
	p.window.jitterSum += l.jitter / 90000
	p.window.jitterN++
	p.mu.Unlock()
}

// reset starts a new measurement window.
func (p *benchPublisher) reset() {
	p.mu.Lock()
	p.window = pubWindow{}
	p.mu.Unlock()
}

// stats returns what was sent since the last reset.
func (p *benchPublisher) stats() pubWindow {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.window
}

// close stops sending and leaves; it waits for the publisher's goroutines.
func (p *benchPublisher) close() {
	close(p.stop)
	if p.pc != nil {
		p.pc.Close()
	}
	p.ws.close()
	p.wg.Wait()
}
