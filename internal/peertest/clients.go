package peertest

import (
	"testing"

	"github.com/pion/webrtc/v4"
)

// Codecs of the clients that tests play, with the payload types browsers use.
var (
	VP8  = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	VP9  = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}, PayloadType: 98}
	Opus = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}
)

// NoH264 is a client that has no H.264 (Firefox without its OpenH264
// plugin): VP8, VP9 and Opus only, with pion's default interceptors.
var NoH264 = Options{Video: []webrtc.RTPCodecParameters{VP8, VP9}, Audio: []webrtc.RTPCodecParameters{Opus}}

// NewNoH264Peer is NewPeer of a NoH264 client.
func NewNoH264Peer(t testing.TB) *webrtc.PeerConnection {
	t.Helper()
	return NewPeer(t, NewAPI(t, NoH264), webrtc.Configuration{})
}

// LenientTrack sends nothing in a section the answer rejected, as browsers
// do; pion's own tracks fail the whole answer instead.
type LenientTrack struct{ *webrtc.TrackLocalStaticRTP }

// Bind binds the track unless its section was rejected (no codec left).
func (l LenientTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	if len(ctx.CodecParameters()) == 0 {
		return webrtc.RTPCodecParameters{}, nil
	}
	return l.TrackLocalStaticRTP.Bind(ctx)
}
