package sfu

import (
	"strconv"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Header extension URIs the SFU reads from publishers.
const (
	audioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level" // RFC 6464
)

// videoFeedback is the RTCP feedback every video codec is negotiated with.
// Both directions add TWCC (transport-cc); REMB stays for subscribers whose
// client sends no TWCC feedback.
var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}, {Type: "goog-remb"},
}

type codec struct {
	mime, fmtp string
	pt, rtxPT  webrtc.PayloadType
	clockRate  uint32
	channels   uint16
}

// h264Broadcast are the H.264 profiles that the HLS and recording path can carry:
// constrained baseline and baseline, packetization-mode 1, which have no B-frames.
var h264Broadcast = []codec{
	{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", 102, 103, 90000, 0},
	{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", 104, 105, 90000, 0},
}

// conferenceVideo adds what browsers prefer when nothing has to reach HLS.
var conferenceVideo = []codec{
	{webrtc.MimeTypeVP8, "", 96, 97, 90000, 0},
	{webrtc.MimeTypeVP9, "profile-id=0", 98, 99, 90000, 0},
	{webrtc.MimeTypeAV1, "", 45, 46, 90000, 0},
	{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f", 106, 107, 90000, 0},
	{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032", 108, 109, 90000, 0},
}

var opus = codec{webrtc.MimeTypeOpus, "minptime=10;useinbandfec=1", 111, 0, 48000, 2}

// newMediaEngine registers the codecs a room accepts. RTX (RFC 4588) is offered
// to publishers, whose retransmissions pion unwraps; toward subscribers the SFU
// retransmits on the media stream itself (cache.go), which every browser takes,
// so no RTX stream is negotiated there.
func newMediaEngine(broadcast, rtx bool) (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	video := h264Broadcast
	if !broadcast {
		video = append(append([]codec{}, conferenceVideo...), h264Broadcast...)
	}
	for _, c := range video {
		p := webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: c.mime, ClockRate: c.clockRate, SDPFmtpLine: c.fmtp, RTCPFeedback: videoFeedback},
			PayloadType:        c.pt,
		}
		if err := m.RegisterCodec(p, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
		if !rtx {
			continue
		}
		rtxCodec := webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=" + strconv.Itoa(int(c.pt))},
			PayloadType:        c.rtxPT,
		}
		if err := m.RegisterCodec(rtxCodec, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	audio := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: opus.mime, ClockRate: opus.clockRate, Channels: opus.channels, SDPFmtpLine: opus.fmtp},
		PayloadType:        opus.pt,
	}
	if err := m.RegisterCodec(audio, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	return m, nil
}

// newPublishAPI is the API for peer connections that receive media from
// publishers: NACK generation, receiver reports, TWCC feedback, simulcast and
// audio-level header extensions. No stats interceptor: it costs per packet and
// nothing reads it.
func newPublishAPI(broadcast bool, se webrtc.SettingEngine) (*webrtc.API, error) {
	m, err := newMediaEngine(broadcast, true)
	if err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, err
	}
	reg.Add(gen)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, err
	}
	reg.Add(rr)
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return nil, err
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: audioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, kind)
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
			return nil, err
		}
	}
	tw, err := twcc.NewSenderInterceptor()
	if err != nil {
		return nil, err
	}
	reg.Add(tw)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// newSubscribeEngine is the media engine of connections that send media to
// subscribers: the room's codecs, and transport-wide congestion control
// (the transport-cc feedback and the transport-wide sequence number header
// extension), from which each connection estimates its bandwidth (bwe.go).
func newSubscribeEngine(broadcast bool) (*webrtc.MediaEngine, error) {
	m, err := newMediaEngine(broadcast, false)
	if err != nil {
		return nil, err
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, kind)
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// subscribeAPI is the API for one connection that sends media to a
// subscriber: sender reports, and the congestion controller feeding est.
// NACKs are answered by the SFU itself from one packet cache per track
// (cache.go), not by pion's per-stream responder, which would copy every
// packet once per subscriber. The API is built per connection so that the
// connection's estimator is known without a lookup by pion's connection ID.
func (s *SFU) subscribeAPI(broadcast bool, est *estimator) (*webrtc.API, error) {
	m := s.subEngines[0]
	if broadcast {
		m = s.subEngines[1]
	}
	reg := &interceptor.Registry{}
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, err
	}
	reg.Add(sr)
	ccf, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) { return est.newGCC() })
	if err != nil {
		return nil, err
	}
	reg.Add(ccf)
	// Added after the congestion controller, so it numbers each packet
	// before the controller records it as sent.
	tw, err := twcc.NewHeaderExtensionInterceptor()
	if err != nil {
		return nil, err
	}
	reg.Add(tw)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s.se)), nil
}
