package hlstest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"lectern/internal/peertest"
)

// Signal sends a publisher's offer and its sources (msid track ID to source)
// to the server and returns the answer: sfu.Participant.Publish, or a
// websocket round trip.
type Signal func(offer string, sources map[string]string) (string, error)

// Track is one track to publish: video from Clip, or audio from Sound.
// Simulcast clips (lowest first) make one encoding each, with RIDs q, h, f.
type Track struct {
	Source    string
	Clip      *Clip
	Simulcast []*Clip
	Sound     *Sound
}

// Publisher is a pion peer sending real H.264 and Opus in real time, looping
// its clips, until the test ends or Stop.
type Publisher struct {
	pc   *webrtc.PeerConnection
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	// IDs maps each source to the msid track ID it was published under.
	IDs map[string]string
}

// Publish negotiates the tracks through signal and starts sending.
func Publish(t testing.TB, signal Signal, tracks ...Track) *Publisher {
	t.Helper()
	pc := peertest.NewPeer(t, nil, webrtc.Configuration{})
	p := &Publisher{pc: pc, stop: make(chan struct{}), IDs: map[string]string{}}
	t.Cleanup(p.Stop)
	sources := map[string]string{}
	var senders []func()
	for _, tr := range tracks {
		id := "t-" + tr.Source
		sources[id], p.IDs[tr.Source] = tr.Source, id
		switch {
		case tr.Sound != nil:
			lt, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, id, "s")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pc.AddTransceiverFromTrack(lt, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
				t.Fatal(err)
			}
			senders = append(senders, func() {
				p.loop(PacketDuration, len(tr.Sound.Packets), func(i int) { lt.WriteSample(media.Sample{Data: tr.Sound.Packets[i], Duration: PacketDuration}) })
			})
		case tr.Clip != nil:
			lt, err := webrtc.NewTrackLocalStaticSample(h264Capability, id, "s")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pc.AddTransceiverFromTrack(lt, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
				t.Fatal(err)
			}
			senders = append(senders, func() {
				p.loop(FrameDuration, len(tr.Clip.Frames), func(i int) { lt.WriteSample(media.Sample{Data: tr.Clip.Frames[i], Duration: FrameDuration}) })
			})
		default:
			senders = append(senders, p.addSimulcast(t, id, tr.Simulcast))
		}
	}
	answer, err := signal(peertest.Offer(t, pc), sources)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	peertest.Accept(t, pc, answer)
	for _, send := range senders {
		p.wg.Add(1)
		go func() { defer p.wg.Done(); send() }()
	}
	return p
}

var h264Capability = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
	SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}

// loop calls send(i) every interval for i = 0, 1, ... n-1, 0, 1, ... on a
// schedule locked to the clock, as an encoder's: after a stall (a loaded
// machine) it catches up instead of skipping, so that the media's timeline
// keeps up with the wall clock.
func (p *Publisher) loop(interval time.Duration, n int, send func(i int)) {
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for k := 0; ; k++ {
		send(k % n)
		timer.Reset(time.Until(start.Add(time.Duration(k+1) * interval)))
		select {
		case <-p.stop:
			return
		case <-timer.C:
		}
	}
}

// addSimulcast adds one track with an encoding per clip (RIDs q, h, f) and
// returns its sender: every layer sends the same frame index with the same
// RTP timestamp, as browsers do.
func (p *Publisher) addSimulcast(t testing.TB, id string, clips []*Clip) func() {
	rids := []string{"q", "h", "f"}
	var layers []*webrtc.TrackLocalStaticRTP
	for i := range clips {
		lt, err := webrtc.NewTrackLocalStaticRTP(h264Capability, id, "s", webrtc.WithRTPStreamID(rids[i]))
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, lt)
	}
	sender, err := p.pc.AddTrack(layers[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers[1:] {
		if err := sender.AddEncoding(l); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		midID, ridID := peertest.ExtensionID(sender, sdp.SDESMidURI), peertest.ExtensionID(sender, sdp.SDESRTPStreamIDURI)
		mid := "0"
		for _, tr := range p.pc.GetTransceivers() {
			if tr.Sender() == sender {
				mid = tr.Mid()
			}
		}
		var packetizers []rtp.Packetizer
		for range layers {
			packetizers = append(packetizers, rtp.NewPacketizer(1200, 0, 0, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000))
		}
		ts := uint32(12345)
		n := len(clips[0].Frames)
		p.loop(FrameDuration, n, func(i int) {
			ts += 3600
			for l, lt := range layers {
				for _, pkt := range packetizers[l].Packetize(clips[l].Frames[i%len(clips[l].Frames)], 3600) {
					pkt.Timestamp = ts
					if midID != 0 {
						pkt.Header.SetExtension(midID, []byte(mid))
					}
					if ridID != 0 {
						pkt.Header.SetExtension(ridID, []byte(rids[l]))
					}
					lt.WriteRTP(pkt)
				}
			}
		})
	}
}

// Stop ends sending and closes the peer connection.
func (p *Publisher) Stop() {
	p.once.Do(func() {
		close(p.stop)
		p.wg.Wait()
		p.pc.Close()
	})
}

// String names the publisher's tracks, for failure messages.
func (p *Publisher) String() string { return fmt.Sprint(p.IDs) }
