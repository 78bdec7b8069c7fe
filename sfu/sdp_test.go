package sfu

import (
	"errors"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

const (
	offerVP8  = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 VP8/90000\r\n"
	offerH264 = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:102 H264/90000\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n"
	offerH265 = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 H265/90000\r\n"
	noMedia   = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
)

func TestCheckOffer(t *testing.T) {
	cases := []struct {
		offer     string
		broadcast bool
		want      error
	}{
		{offerVP8, false, nil},
		{offerVP8, true, ErrUnsupportedCodecs},
		{offerH264, true, nil},
		{offerH265, false, ErrUnsupportedCodecs},
		{noMedia, false, ErrBadSDP},
		{"hello", false, ErrBadSDP},
		{"", false, ErrBadSDP},
	}
	for _, tc := range cases {
		err := checkOffer(tc.offer, tc.broadcast)
		if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%.40q broadcast=%v: %v, want %v", tc.offer, tc.broadcast, err, tc.want)
		}
	}
}

func TestCapBitrate(t *testing.T) {
	out := capBitrate(offerH264, 2_500_000)
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(out); err != nil {
		t.Fatal(err)
	}
	video, audio := sd.MediaDescriptions[0], sd.MediaDescriptions[1]
	if len(video.Bandwidth) != 2 || video.Bandwidth[1].Type != "TIAS" || video.Bandwidth[1].Bandwidth != 2_500_000 {
		t.Errorf("video bandwidth = %+v", video.Bandwidth)
	}
	if len(audio.Bandwidth) != 0 {
		t.Errorf("audio got a bandwidth cap: %+v", audio.Bandwidth)
	}
	if capBitrate("garbage", 1) != "garbage" {
		t.Error("unparseable SDP was changed")
	}
}

func FuzzOfferHandling(f *testing.F) {
	for _, s := range []string{offerVP8, offerH264, offerH265, noMedia, "v=0\r\n"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, offer string, broadcast bool) {
		err := checkOffer(offer, broadcast)
		if err != nil && !errors.Is(err, ErrBadSDP) && !errors.Is(err, ErrUnsupportedCodecs) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		out := capBitrate(offer, 1_000_000)
		if err == nil && !strings.Contains(out, "m=") {
			t.Fatalf("capBitrate lost the media sections of an accepted offer")
		}
	})
}

func FuzzKeyframeDetectors(f *testing.F) {
	for _, p := range [][]byte{vp8Key, vp8Delta, {0x65, 0x88}, {0x7c, 0x85}, {0x78, 0, 2, 0x67, 0x42}, {0x08}, {}} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		// Must never panic on any payload.
		vp8Keyframe(p)
		vp9Keyframe(p)
		h264Keyframe(p)
		av1Keyframe(p)
	})
}

func TestKeyframes(t *testing.T) {
	cases := []struct {
		name string
		f    keyframeFunc
		p    []byte
		want bool
	}{
		{"vp8 key", vp8Keyframe, vp8Key, true},
		{"vp8 delta", vp8Keyframe, vp8Delta, false},
		{"vp8 key with picture id", vp8Keyframe, []byte{0x90, 0x80, 0x81, 0x02, 0x00}, true},
		{"vp8 continuation", vp8Keyframe, []byte{0x00, 0x00}, false},
		{"h264 idr", h264Keyframe, []byte{0x65, 0x88}, true},
		{"h264 slice", h264Keyframe, []byte{0x41, 0x9a}, false},
		{"h264 stap-a sps", h264Keyframe, []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, true},
		{"h264 fu-a idr start", h264Keyframe, []byte{0x7c, 0x85}, true},
		{"h264 fu-a idr middle", h264Keyframe, []byte{0x7c, 0x05}, false},
		{"vp9 key", vp9Keyframe, []byte{0x08}, true},
		{"vp9 inter", vp9Keyframe, []byte{0x48}, false},
		{"av1 new sequence", av1Keyframe, []byte{0x08}, true},
		{"av1 other", av1Keyframe, []byte{0x10}, false},
	}
	for _, tc := range cases {
		if got := tc.f(tc.p); got != tc.want {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
}
