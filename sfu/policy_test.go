package sfu

import (
	"errors"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/internal/peertest"
)

// offerOf returns a pion peer's offer sending one track per source, named
// "id-<source>"; video is VP8.
func offerOf(t *testing.T, sources ...string) string {
	t.Helper()
	pc := peertest.NewPeer(t, nil, webrtc.Configuration{})
	for _, src := range sources {
		codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
		if sourceKind(src) == "audio" {
			codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
		}
		peertest.SendTrack(t, pc, codec, "id-"+src, "stream")
	}
	return peertest.Offer(t, pc)
}

func named(sources ...string) map[string]string {
	m := map[string]string{}
	for _, s := range sources {
		m["id-"+s] = s
	}
	return m
}

// TestPolicyRefusesOffers publishes into rooms with policies from a real pion
// peer: what the room refuses is a *PolicyError naming it, and the
// participant publishes nothing.
func TestPolicyRefusesOffers(t *testing.T) {
	audioOnly := RoomOptions{Refused: access.Camera | access.Screen | access.ScreenAudio}
	cases := []struct {
		name    string
		opts    RoomOptions
		extra   access.Sources
		sources []string
		names   map[string]string
		refused string // "" when accepted
	}{
		{"audio only takes the microphone", audioOnly, 0, []string{SourceMicrophone}, nil, ""},
		{"audio only refuses the camera", audioOnly, 0, []string{SourceMicrophone, SourceCamera}, nil, SourceCamera},
		{"audio only refuses a named screen", audioOnly, 0, []string{SourceScreen}, named(SourceScreen), SourceScreen},
		{"no screen takes the camera", RoomOptions{Refused: access.Screen}, 0, []string{SourceCamera, SourceMicrophone}, nil, ""},
		{"no screen takes screen audio", RoomOptions{Refused: access.Screen}, 0, []string{SourceScreenAudio}, named(SourceScreenAudio), ""},
		{"the override lets the host share a screen", audioOnly, access.Screen, []string{SourceScreen, SourceMicrophone}, named(SourceScreen), ""},
		{"the override is only what it names", audioOnly, access.Screen, []string{SourceCamera}, nil, SourceCamera},
		{"a room that takes nothing", RoomOptions{Refused: access.AllSources}, 0, []string{SourceMicrophone}, nil, SourceMicrophone},
	}
	s := newTestSFU(t)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			room, err := s.Room("policy"+string(rune('a'+i)), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			p, err := room.Join(ParticipantOptions{Identity: "host", Kind: KindBrowser, Permissions: everyone, Sources: tc.extra})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close("test over")
			offer := offerOf(t, tc.sources...)
			_, err = p.Publish(offer, tc.names)
			checkErr := CheckOffer(offer, tc.opts, tc.extra)
			if tc.refused == "" {
				if err != nil || (tc.names == nil && checkErr != nil) {
					t.Fatalf("Publish = %v, CheckOffer = %v; want both accepted", err, checkErr)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) || pe.Source != tc.refused || !errors.Is(err, ErrRefusedByPolicy) {
				t.Fatalf("Publish = %v, want a PolicyError for %s", err, tc.refused)
			}
			if want := "this room does not take " + tc.refused; len(pe.Reason()) < len(want) || pe.Reason()[:len(want)] != want {
				t.Errorf("reason %q does not start %q", pe.Reason(), want)
			}
			if tc.names == nil && !errors.As(checkErr, &pe) {
				t.Errorf("CheckOffer = %v, want a PolicyError", checkErr)
			}
			if got := room.Tracks(); len(got) != 0 {
				t.Errorf("room has %d tracks after a refused offer", len(got))
			}
		})
	}
}

// TestPolicyRefusesMislabelledTrack: a camera named microphone is a bad source.
func TestPolicyRefusesMislabelledTrack(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("mislabel", RoomOptions{Refused: access.Camera})
	p := join(t, room, "host", everyone)
	_, err := p.Publish(offerOf(t, SourceCamera), map[string]string{"id-" + SourceCamera: SourceMicrophone})
	if !errors.Is(err, ErrBadSource) {
		t.Fatalf("Publish = %v, want ErrBadSource", err)
	}
}

// TestPolicyMicrophoneFlowsInAudioOnlyRoom: the accepted microphone reaches a
// subscriber.
func TestPolicyMicrophoneFlowsInAudioOnlyRoom(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("audio", RoomOptions{Refused: access.AllSources &^ access.Microphone, NoSimulcast: true})
	sub := subscribe(t, join(t, room, "sub", access.Subscribe|access.List))
	pub := publishTracks(t, join(t, room, "host", everyone), webrtc.MimeTypeVP8, SourceMicrophone)
	stop := make(chan struct{})
	defer close(stop)
	go pub.pump(stop)
	sub.waitSources(10*time.Second, SourceMicrophone)
}

// TestPolicyRefusesSimulcast offers three layers in a room without simulcast.
func TestPolicyRefusesSimulcast(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("nosim", RoomOptions{NoSimulcast: true})
	p := join(t, room, "host", everyone)
	pc := peertest.NewPeer(t, nil, webrtc.Configuration{})
	var sender *webrtc.RTPSender
	for _, rid := range []string{"q", "h", "f"} {
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "cam", "pub", webrtc.WithRTPStreamID(rid))
		if err != nil {
			t.Fatal(err)
		}
		if sender == nil {
			if sender, err = pc.AddTrack(tr); err != nil {
				t.Fatal(err)
			}
		} else if err := sender.AddEncoding(tr); err != nil {
			t.Fatal(err)
		}
	}
	offer := peertest.Offer(t, pc)
	var pe *PolicyError
	if _, err := p.Publish(offer, map[string]string{"cam": SourceCamera}); !errors.As(err, &pe) || !pe.Simulcast {
		t.Fatalf("Publish = %v, want a simulcast PolicyError", err)
	}
	if err := CheckOffer(offer, RoomOptions{}, 0); err != nil {
		t.Errorf("CheckOffer without the policy = %v", err)
	}
}

// TestPolicyRefusesPushedTrack: an encoder's camera in an audio-only room.
func TestPolicyRefusesPushedTrack(t *testing.T) {
	s := newTestSFU(t)
	room, _ := s.Room("enc", RoomOptions{Refused: access.Camera})
	p := join(t, room, "encoder", access.Publish)
	_, err := p.PublishTrack(TrackSpec{Kind: webrtc.RTPCodecTypeVideo, Source: SourceCamera,
		Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000}})
	var pe *PolicyError
	if !errors.As(err, &pe) || pe.Source != SourceCamera {
		t.Fatalf("PublishTrack = %v, want a PolicyError for the camera", err)
	}
	if _, err := p.PublishTrack(TrackSpec{Kind: webrtc.RTPCodecTypeAudio, Source: SourceMicrophone,
		Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}}); err != nil {
		t.Fatalf("PublishTrack microphone = %v", err)
	}
}

// policyOffers seed FuzzCheckPolicy: sections with and without msid, the
// older ssrc msid form, simulcast rids, a receive-only video section.
var policyOffers = []string{
	offerH264, noMedia,
	"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=msid:s cam\r\na=rid:q send\r\na=rid:h send\r\na=simulcast:send q;h\r\na=sendonly\r\n",
	"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ssrc:1 msid:s mic\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\n",
	"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\na=msid:s scr\r\n",
}

// FuzzCheckPolicy feeds offers from outside to the policy check of an
// audio-only room without simulcast: it never panics, and an offer it
// accepts sends no video and no simulcast.
func FuzzCheckPolicy(f *testing.F) {
	for _, s := range policyOffers {
		f.Add(s, "cam", "screen")
	}
	audioOnly := RoomOptions{Refused: access.AllSources &^ access.Microphone, NoSimulcast: true}
	f.Fuzz(func(t *testing.T, offer, track, source string) {
		err := checkPolicy(offer, map[string]string{track: source}, audioOnly, 0)
		if err != nil && !errors.Is(err, ErrBadSDP) && !errors.Is(err, ErrRefusedByPolicy) && !errors.Is(err, ErrBadSource) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		if err != nil {
			return
		}
		var sd sdp.SessionDescription
		if sd.UnmarshalString(offer) != nil {
			t.Fatal("accepted an offer that does not parse")
		}
		session := direction(sd.Attributes, "sendrecv")
		for _, md := range sd.MediaDescriptions {
			dir := direction(md.Attributes, session)
			if md.MediaName.Port.Value != 0 && (dir == "sendonly" || dir == "sendrecv") && (md.MediaName.Media == "video" || simulcast(md)) {
				t.Fatalf("accepted a sending video or simulcast section:\n%s", offer)
			}
		}
	})
}

func TestPolicyOfferSeeds(t *testing.T) {
	audioOnly := RoomOptions{Refused: access.AllSources &^ access.Microphone, NoSimulcast: true}
	want := []error{ErrRefusedByPolicy, nil, ErrRefusedByPolicy, nil, nil}
	for i, offer := range policyOffers {
		if err := checkPolicy(offer, nil, audioOnly, 0); !errors.Is(err, want[i]) && (want[i] != nil || err != nil) {
			t.Errorf("offer %d: %v, want %v", i, err, want[i])
		}
	}
	// A room that takes video but not simulcast refuses the rids.
	var pe *PolicyError
	if err := checkPolicy(policyOffers[2], nil, RoomOptions{NoSimulcast: true}, 0); !errors.As(err, &pe) || !pe.Simulcast {
		t.Errorf("simulcast offer: %v", err)
	}
	if got := msidTrack(mustParse(t, policyOffers[3]).MediaDescriptions[0]); got != "mic" {
		t.Errorf("ssrc msid track = %q", got)
	}
}

func mustParse(t *testing.T, s string) *sdp.SessionDescription {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(s); err != nil {
		t.Fatal(err)
	}
	return &sd
}
