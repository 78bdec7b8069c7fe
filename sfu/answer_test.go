package sfu

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/internal/peertest"
)

// A client without H.264 publishing audio and VP8 into a broadcast room gets
// an answer that rejects its video and still connects: the candidates sit in
// the accepted audio section, whichever section comes first, and the audio
// reaches subscribers. The offer carries no candidates, so the client can
// only connect to those of the answer (as when the server cannot reach it).
func TestRejectedSectionAnswerConnects(t *testing.T) {
	for _, order := range [][]webrtc.RTPCodecType{
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio},
		{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo},
	} {
		t.Run(order[0].String()+" first", func(t *testing.T) {
			s := newTestSFU(t)
			r, err := s.Room("bc", RoomOptions{Broadcast: true})
			if err != nil {
				t.Fatal(err)
			}
			pub := join(t, r, "firefox", everyone)
			viewer := subscribe(t, join(t, r, "viewer", access.Subscribe))

			pc := peertest.NewNoH264Peer(t)
			up := peertest.Connected(pc)
			audio, _ := webrtc.NewTrackLocalStaticRTP(peertest.Opus.RTPCodecCapability, "mic", "firefox")
			video, _ := webrtc.NewTrackLocalStaticRTP(peertest.VP8.RTPCodecCapability, "cam", "firefox")
			for _, k := range order {
				tr := webrtc.TrackLocal(audio)
				if k == webrtc.RTPCodecTypeVideo {
					tr = peertest.LenientTrack{TrackLocalStaticRTP: video}
				}
				if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
					t.Fatal(err)
				}
			}
			offer, err := pc.CreateOffer(nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := pc.SetLocalDescription(offer); err != nil {
				t.Fatal(err)
			}
			var ce *CodecError
			if err := Refused(offer.SDP, r.Options(), false); !errors.As(err, &ce) || ce.Reason() != "this room takes H.264 video; your client offered VP8, VP9" {
				t.Errorf("Refused = %v", err)
			}
			answer, err := pub.Publish(offer.SDP, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(answer, "m=video 0 ") {
				t.Errorf("the VP8 section was not rejected:\n%s", answer)
			}
			peertest.CheckBundle(t, answer)
			peertest.Accept(t, pc, answer)
			select {
			case <-up:
			case <-time.After(15 * time.Second):
				t.Fatalf("the publisher did not connect: %s", pc.ICEConnectionState())
			}
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				peertest.Tick(stop, 10*time.Millisecond, func(i int) {
					audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 480}, Payload: []byte{0xfc, 0xff}})
				})
			}()
			defer func() { close(stop); <-done }()
			viewer.waitSources(15*time.Second, SourceMicrophone)
		})
	}
}

// An offer whose only section has no codec the room takes is refused with a
// CodecError that names what the room needs.
func TestRefusalsNameTheCodecs(t *testing.T) {
	cases := []struct {
		name, offer string
		broadcast   bool
		receive     bool
		want        string
	}{
		{"VP8 into a broadcast room", offerVP8, true, false, "this room takes H.264 video; your client offered VP8"},
		{"H.265 into a conference room", offerH265, false, false, "this room takes VP8, VP9, H.264 or AV1 video; your client offered H.265"},
		{"VP8 viewer of a broadcast room", strings.Replace(offerVP8, "a=rtpmap", "a=recvonly\r\na=rtpmap", 1), true, true,
			"this room sends H.264 video; your client can receive only VP8"},
	}
	for _, tc := range cases {
		check := func(o string, r RoomOptions) error { return checkOffer(o, r.Broadcast) }
		if tc.receive {
			check = CheckViewOffer
		}
		err := check(tc.offer, RoomOptions{Broadcast: tc.broadcast})
		var ce *CodecError
		if !errors.As(err, &ce) || !errors.Is(err, ErrUnsupportedCodecs) || ce.Reason() != tc.want {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		if Refused(tc.offer, RoomOptions{Broadcast: tc.broadcast}, tc.receive) != nil {
			t.Errorf("%s: Refused names an offer that is refused as a whole", tc.name)
		}
	}
	if err := Refused(offerH264, RoomOptions{Broadcast: true}, false); err != nil {
		t.Errorf("Refused(H.264 and Opus) = %v", err)
	}
}

// noH264Subscriber answers a participant's subscriber offers with a client
// that cannot receive H.264, and counts the audio it gets.
type noH264Subscriber struct {
	t     *testing.T
	p     *Participant
	pc    *webrtc.PeerConnection
	ufrag string
	audio chan struct{}
}

// answerNext answers the next offer and returns it with Answer's result. As
// docs/protocol.md says, an offer with new ICE credentials is answered on a
// new peer connection.
func (s *noH264Subscriber) answerNext() (string, error) {
	s.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case ev := <-s.p.Events():
			if ev.Type != EventOffer {
				continue
			}
			if u := iceUfrag(ev.SDP); u != s.ufrag {
				s.ufrag = u
				s.newPC()
			}
			answer, err := peertest.Answer(s.pc, ev.SDP)
			if err != nil {
				s.t.Fatal(err)
			}
			return ev.SDP, s.p.Answer(answer)
		case <-deadline:
			s.t.Fatal("no offer within 15 s")
		}
	}
}

func (s *noH264Subscriber) newPC() {
	s.pc = peertest.NewNoH264Peer(s.t)
	peertest.ReadTracks(s.t, s.pc, func(tr *webrtc.TrackRemote, _ *rtp.Packet) {
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			select {
			case s.audio <- struct{}{}:
			default:
			}
		}
	})
}

func (s *noH264Subscriber) waitAudio() {
	s.t.Helper()
	select {
	case <-s.audio:
	case <-time.After(15 * time.Second):
		s.t.Fatal("no audio reached the subscriber that refused the video")
	}
}

// A subscriber whose client cannot receive the room's H.264 hears why from
// Answer, whether its answer rejects every section offered (the server then
// starts a new subscriber connection without that video) or the video beside
// audio; and it gets the audio.
func TestSubscriberAnswerRejectingVideo(t *testing.T) {
	s := newTestSFU(t)
	r, err := s.Room("bc", RoomOptions{Broadcast: true})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	start := func(identity, mime, source string) {
		tp := publishTracks(t, join(t, r, identity, everyone), mime, source)
		wg.Add(1)
		go func() { defer wg.Done(); tp.pump(stop) }()
	}
	waitTrack := func(kind webrtc.RTPCodecType) *Track {
		deadline := time.Now().Add(15 * time.Second)
		for {
			for _, tr := range r.Tracks() {
				if tr.kind == kind {
					return tr
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s track in the room", kind)
			}
			time.Sleep(10 * time.Millisecond) // polling the room's track list
		}
	}
	const want = "this room sends H.264 video and your client cannot receive it"
	var ce *CodecError

	start("camera", webrtc.MimeTypeH264, SourceCamera)
	video := waitTrack(webrtc.RTPCodecTypeVideo)
	first := &noH264Subscriber{t: t, p: join(t, r, "first", access.Subscribe), audio: make(chan struct{}, 1)}
	if _, err := first.answerNext(); !errors.As(err, &ce) || ce.Reason() != want {
		t.Fatalf("Answer rejecting the only section = %v", err)
	}
	start("microphone", webrtc.MimeTypeOpus, SourceMicrophone)
	audio := waitTrack(webrtc.RTPCodecTypeAudio)
	if offer, err := first.answerNext(); err != nil || strings.Contains(offer, "m=video") {
		t.Fatalf("after the restart: Answer = %v, offer:\n%s", err, offer)
	}
	first.waitAudio()

	p, err := r.Join(ParticipantOptions{Identity: "second", Kind: KindBrowser, Permissions: access.Subscribe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close("test over") })
	second := &noH264Subscriber{t: t, p: p, audio: make(chan struct{}, 1)}
	if err := p.Subscribe([]string{audio.id, video.id}); err != nil {
		t.Fatal(err)
	}
	if _, err := second.answerNext(); err != nil {
		t.Fatalf("Answer to the audio = %v", err)
	}
	offer, err := second.answerNext()
	if !strings.Contains(offer, "m=video") || !errors.As(err, &ce) || ce.Reason() != want {
		t.Fatalf("Answer rejecting the video of an offer with audio = %v\n%s", err, offer)
	}
	second.waitAudio()
}

func TestRetagBundle(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
	const video = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:v\r\na=rtpmap:96 VP8/90000\r\n"
	const audio = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:a\r\na=rtpmap:111 opus/48000/2\r\n"
	cases := []struct {
		name, offer string
		broadcast   bool
		group       string
	}{
		{"rejected video tagged", head + "a=group:BUNDLE v a\r\n" + video + audio, true, "a=group:BUNDLE a v\r\n"},
		{"accepted video tagged", head + "a=group:BUNDLE v a\r\n" + video + audio, false, "a=group:BUNDLE v a\r\n"},
		{"audio tagged", head + "a=group:BUNDLE a v\r\n" + audio + video, true, "a=group:BUNDLE a v\r\n"},
		{"nothing accepted", head + "a=group:BUNDLE v\r\n" + video, true, "a=group:BUNDLE v\r\n"},
		{"no BUNDLE", head + video + audio, true, ""},
	}
	for _, tc := range cases {
		got := retagBundle(tc.offer, tc.broadcast)
		if tc.group == "" && got != tc.offer || tc.group != "" && !strings.Contains(got, tc.group) {
			t.Errorf("%s: got\n%s", tc.name, got)
		}
		if strings.Count(got, "m=") != strings.Count(tc.offer, "m=") {
			t.Errorf("%s: sections lost:\n%s", tc.name, got)
		}
	}
}

// iceUfrag returns the first a=ice-ufrag of a description.
func iceUfrag(desc string) string {
	_, rest, _ := strings.Cut(desc, "a=ice-ufrag:")
	u, _, _ := strings.Cut(rest, "\r\n")
	return u
}

func TestPlaceCandidates(t *testing.T) {
	const offer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=rtpmap:96 VP8/90000\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=rtpmap:111 opus/48000/2\r\n"
	const answer = "v=0\r\no=- 2 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 1\r\n" +
		"m=video 0 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\n" +
		"a=candidate:1 1 udp 2130706431 127.0.0.1 7881 typ host\r\na=end-of-candidates\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=rtpmap:111 opus/48000/2\r\n"
	got := placeCandidates(offer, answer)
	peertest.CheckBundle(t, got)
	if !strings.Contains(got, "a=mid:1\r\na=rtpmap:111 opus/48000/2\r\na=candidate:1 1 udp 2130706431 127.0.0.1 7881 typ host\r\na=end-of-candidates\r\n") {
		t.Errorf("candidates not moved to the audio section:\n%s", got)
	}
	if !strings.Contains(got, "m=video 0 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n") {
		t.Errorf("the rejected section did not get its mid:\n%s", got)
	}
	if placeCandidates(offer, offerH264) != offerH264 {
		t.Error("an answer that needs nothing was changed")
	}
	if placeCandidates(offer, "x") != "x" {
		t.Error("an unparseable answer was changed")
	}
}

func FuzzAnswerRepair(f *testing.F) {
	for _, s := range []string{offerVP8, offerH264, offerH265, noMedia} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, offer, answer string) {
		// Candidates are moved, never invented; a changed answer still parses.
		if retagged := retagBundle(offer, true); retagged != offer && strings.Count(retagged, "m=") != strings.Count(offer, "m=") {
			t.Fatalf("retagBundle changed the sections:\n%s", retagged)
		}
		out := placeCandidates(offer, answer)
		if strings.Count(out, "a=candidate:") > strings.Count(answer, "a=candidate:") {
			t.Fatalf("candidates appeared from nowhere:\n%s", out)
		}
		var sd sdp.SessionDescription
		if out != answer && sd.UnmarshalString(out) != nil {
			t.Fatalf("the repaired answer does not parse:\n%s", out)
		}
		for _, receive := range []bool{false, true} {
			if err := Refused(offer, RoomOptions{Broadcast: true}, receive); err != nil && !errors.Is(err, ErrUnsupportedCodecs) {
				t.Fatalf("Refused: %v", err)
			}
		}
		_, _ = refusedInAnswer(answer, sdpMids(offer), map[string]codecOf{"0": {"video", "H.264"}})
	})
}
