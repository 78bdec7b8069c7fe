// Package peertest makes real pion peers for Lectern's tests: a pion API on
// loopback with the codecs, header extensions and interceptors a test names,
// offer/answer with ICE gathering completed (no trickle, as the SFU and WHIP
// expect), waiting for a connection, and reading what arrives on remote
// tracks.
//
// Import it from _test.go files and test-support packages (hls/hlstest)
// only; TestImportedByTestsOnly keeps it so. Every function that takes a
// testing.TB ends the test on error and closes what it made when the test
// ends.
package peertest

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Options says what a test peer's pion API knows. The zero value is pion's
// default codecs and interceptors, on loopback.
type Options struct {
	// Video and Audio are the codecs the peer knows; when both are nil, pion's
	// default codecs.
	Video, Audio []webrtc.RTPCodecParameters
	// Extensions are RTP header extensions to offer beyond pion's defaults.
	Extensions []Extension
	// Interceptors fills the interceptor registry. Nil: pion's defaults (NACK,
	// RTCP reports, TWCC, ...); NoInterceptors for none at all.
	Interceptors func(*webrtc.MediaEngine, *interceptor.Registry) error
	// Settings, when set, changes the setting engine after the loopback
	// settings, to use a socket of the test's or let other addresses in.
	Settings func(*webrtc.SettingEngine)
}

// Extension is an RTP header extension of one media kind.
type Extension struct {
	URI  string
	Kind webrtc.RTPCodecType
}

// NoInterceptors is an Options.Interceptors that registers none: the peer
// sends no NACKs, reports or TWCC feedback.
func NoInterceptors(*webrtc.MediaEngine, *interceptor.Registry) error { return nil }

// NewAPI makes a pion API as o says. Its ICE agent gathers loopback
// addresses only, without mDNS, so a test's traffic stays on 127.0.0.1.
func NewAPI(t testing.TB, o Options) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if o.Video == nil && o.Audio == nil {
		if err := m.RegisterDefaultCodecs(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range o.Video {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range o.Audio {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range o.Extensions {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: e.URI}, e.Kind); err != nil {
			t.Fatal(err)
		}
	}
	reg := &interceptor.Registry{}
	fill := o.Interceptors
	if fill == nil {
		fill = webrtc.RegisterDefaultInterceptors
	}
	if err := fill(m, reg); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if o.Settings != nil {
		o.Settings(&se)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
}

// NewPeer makes a peer connection of api (nil: NewAPI with the zero Options)
// that is closed when the test ends.
func NewPeer(t testing.TB, api *webrtc.API, cfg webrtc.Configuration) *webrtc.PeerConnection {
	t.Helper()
	if api == nil {
		api = NewAPI(t, Options{})
	}
	pc, err := api.NewPeerConnection(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// SendTrack adds a send-only track of codec to pc, with the given track and
// stream IDs, and returns it with its sender.
func SendTrack(t testing.TB, pc *webrtc.PeerConnection, codec webrtc.RTPCodecCapability, id, stream string) (*webrtc.TrackLocalStaticRTP, *webrtc.RTPSender) {
	t.Helper()
	tr, err := webrtc.NewTrackLocalStaticRTP(codec, id, stream)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	return tr, tx.Sender()
}

// ExtensionID returns the ID that negotiation gave the RTP header extension
// uri on sender, 0 if none.
func ExtensionID(sender *webrtc.RTPSender, uri string) uint8 {
	for _, ext := range sender.GetParameters().HeaderExtensions {
		if ext.URI == uri {
			return uint8(ext.ID)
		}
	}
	return 0
}

// Offer creates pc's offer, sets it as the local description and returns it
// once ICE gathering is complete, candidates included.
func Offer(t testing.TB, pc *webrtc.PeerConnection) string {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

// Accept applies the remote answer to the offer pc made.
func Accept(t testing.TB, pc *webrtc.PeerConnection, answer string) {
	t.Helper()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatalf("apply the answer: %v", err)
	}
}

// Answer applies a remote offer to pc and returns pc's answer once ICE
// gathering is complete. It takes no testing.TB so that a goroutine
// answering a server's renegotiations can call it.
func Answer(pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", err
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", err
	}
	<-gathered
	return pc.LocalDescription().SDP, nil
}

// Negotiate runs one offer/answer between two pion peers of the test.
func Negotiate(t testing.TB, offerer, answerer *webrtc.PeerConnection) {
	t.Helper()
	answer, err := Answer(answerer, Offer(t, offerer))
	if err != nil {
		t.Fatal(err)
	}
	Accept(t, offerer, answer)
}

// Connected returns a channel closed once pc connects. It takes pc's one
// OnConnectionStateChange handler.
func Connected(pc *webrtc.PeerConnection) <-chan struct{} {
	c := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(c) })
		}
	})
	return c
}

// WaitConnected waits up to timeout for pc to connect, polling its state so
// that it leaves pc's handlers alone.
func WaitConnected(t testing.TB, pc *webrtc.PeerConnection, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		if time.Now().After(deadline) {
			t.Fatalf("not connected within %v: ICE %s", timeout, pc.ICEConnectionState())
		}
		time.Sleep(20 * time.Millisecond) // polling the connection state
	}
}

// ReadTracks calls fn with every RTP packet that arrives on any of pc's
// remote tracks, from one goroutine per track, until pc closes. It takes
// pc's one OnTrack handler. When the test ends it closes pc and waits for
// the goroutines.
func ReadTracks(t testing.TB, pc *webrtc.PeerConnection, fn func(*webrtc.TrackRemote, *rtp.Packet)) {
	wait := OnPackets(pc, fn)
	t.Cleanup(func() {
		pc.Close()
		wait()
	})
}

// OnPackets is ReadTracks for a caller that owns pc's closing, off the test
// goroutine: it returns a function that, once pc is closed, waits for the
// reading goroutines (and starts no more).
func OnPackets(pc *webrtc.PeerConnection, fn func(*webrtc.TrackRemote, *rtp.Packet)) (wait func()) {
	var (
		mu     sync.Mutex
		closed bool
		wg     sync.WaitGroup
	)
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				pkt, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				fn(tr, pkt)
			}
		}()
	})
	return func() {
		mu.Lock()
		closed = true
		mu.Unlock()
		wg.Wait()
	}
}
