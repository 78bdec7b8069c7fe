package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/storage/storagetest"
)

// Clients without H.264 (Firefox without its OpenH264 plugin) in a broadcast
// room, which takes H.264 video only: the answer carries what was accepted and
// connects, the client hears what was rejected, and an offer with nothing the
// room takes is refused with unsupported_codecs.

const (
	wantPublishReason = "this room takes H.264 video; your client offered VP8, VP9"
	wantViewReason    = "this room sends H.264 video; your client can receive only VP8, VP9"
)

// noH264PC is a pion peer that knows VP8, VP9 and Opus only.
func noH264PC(t *testing.T) *webrtc.PeerConnection {
	t.Helper()
	m := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}, PayloadType: 98},
	} {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	opus := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}
	if err := m.RegisterCodec(opus, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// lenientTrack sends nothing in a section the answer rejected, as browsers
// do; pion's own tracks fail the whole answer instead.
type lenientTrack struct{ *webrtc.TrackLocalStaticRTP }

func (l lenientTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	if len(ctx.CodecParameters()) == 0 {
		return webrtc.RTPCodecParameters{}, nil
	}
	return l.TrackLocalStaticRTP.Bind(ctx)
}

// addSections adds, in order, a VP8 and an Opus section ("video", "audio")
// of direction dir; send-only sections carry tracks, the audio one returned.
func addSections(t *testing.T, pc *webrtc.PeerConnection, dir webrtc.RTPTransceiverDirection, kinds ...string) *webrtc.TrackLocalStaticRTP {
	t.Helper()
	audio, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "noh264")
	video, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam", "noh264")
	for _, k := range kinds {
		var err error
		switch {
		case dir == webrtc.RTPTransceiverDirectionRecvonly:
			kind := webrtc.RTPCodecTypeAudio
			if k == "video" {
				kind = webrtc.RTPCodecTypeVideo
			}
			_, err = pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: dir})
		case k == "video":
			_, err = pc.AddTransceiverFromTrack(lenientTrack{video}, webrtc.RTPTransceiverInit{Direction: dir})
		default:
			_, err = pc.AddTransceiverFromTrack(audio, webrtc.RTPTransceiverInit{Direction: dir})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return audio
}

// offerWithoutCandidates sets and returns pc's offer before gathering: the
// client can then connect only to the candidates of the answer.
func offerWithoutCandidates(t *testing.T, pc *webrtc.PeerConnection) string {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

// checkAnswerConnectable fails unless the answer rejects its video section,
// names only accepted sections in BUNDLE and has its candidates in the
// BUNDLE-tag section, and every rejected section keeps its mid.
func checkAnswerConnectable(t *testing.T, answer string) {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(answer); err != nil {
		t.Fatal(err)
	}
	group, _ := sd.Attribute(sdp.AttrKeyGroup)
	fields := strings.Fields(group)
	if len(fields) < 2 || fields[0] != "BUNDLE" || !strings.Contains(answer, "m=video 0 ") {
		t.Fatalf("answer has no BUNDLE group or accepts the video:\n%s", answer)
	}
	for _, md := range sd.MediaDescriptions {
		mid, hasMid := md.Attribute(sdp.AttrKeyMID)
		_, hasCand := md.Attribute("candidate")
		rejected := md.MediaName.Port.Value == 0
		switch {
		case rejected && (hasCand || !hasMid || strings.Contains(group+" ", " "+mid+" ")):
			t.Errorf("rejected %s section: mid %q, candidates %v, BUNDLE %q:\n%s", md.MediaName.Media, mid, hasCand, group, answer)
		case !rejected && mid == fields[1] && !hasCand:
			t.Errorf("BUNDLE-tag section %q has no candidates:\n%s", mid, answer)
		}
	}
}

// waitConnected waits until pc connects.
func waitConnected(t *testing.T, pc *webrtc.PeerConnection) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		if time.Now().After(deadline) {
			t.Fatalf("not connected within 15 s: ICE %s", pc.ICEConnectionState())
		}
		time.Sleep(20 * time.Millisecond) // polling the connection state
	}
}

// pumpAudio sends Opus packets on tr until the test ends.
func pumpAudio(t *testing.T, tr *webrtc.TrackLocalStaticRTP) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 480}, Payload: []byte{0xfc, 0xff, 7}})
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

func TestWHIPWithoutH264(t *testing.T) {
	for _, order := range [][]string{{"video", "audio"}, {"audio", "video"}} {
		t.Run(order[0]+" first", func(t *testing.T) {
			a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
			a.createRoom(map[string]any{"id": "bc", "name": "BC", "mode": "webinar", "broadcast": map[string]any{"hls": true}})
			viewer := startWHEP(t, a, "bc", a.tokenFor("viewer", "bc", access.Viewer))

			pc := noH264PC(t)
			audio := addSections(t, pc, webrtc.RTPTransceiverDirectionSendonly, order...)
			status, h, answer := httpDo(t, "POST", a.url+"/whip/bc", a.tokenFor("host", "bc", access.Host), "application/sdp", offerWithoutCandidates(t, pc))
			if status != http.StatusCreated {
				t.Fatalf("POST: %d %s", status, answer)
			}
			if got := h.Get("Lectern-Warning"); got != "unsupported_codecs: "+wantPublishReason {
				t.Errorf("Lectern-Warning = %q", got)
			}
			checkAnswerConnectable(t, answer)
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
				t.Fatal(err)
			}
			waitConnected(t, pc)
			pumpAudio(t, audio)
			viewer.waitFor("the publisher's audio", func(_, audio received) bool { return audio.packets > 10 && audio.mark == 7 })
		})
	}
	t.Run("video only", func(t *testing.T) {
		a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
		a.createRoom(map[string]any{"id": "bc", "name": "BC", "mode": "webinar", "broadcast": map[string]any{"hls": true}})
		pc := noH264PC(t)
		addSections(t, pc, webrtc.RTPTransceiverDirectionSendonly, "video")
		checkRefused(t, a, "/whip/bc", a.tokenFor("host", "bc", access.Host), offerWithoutCandidates(t, pc), wantPublishReason)
	})
}

// checkRefused posts offer and wants 415 unsupported_codecs with reason.
func checkRefused(t *testing.T, a *testAPI, path, token, offer, reason string) {
	t.Helper()
	status, _, body := httpDo(t, "POST", a.url+path, token, "application/sdp", offer)
	var e struct{ Code, Message string }
	if err := json.Unmarshal([]byte(body), &e); err != nil || status != http.StatusUnsupportedMediaType ||
		e.Code != "unsupported_codecs" || e.Message != reason {
		t.Errorf("POST %s: %d %s, want 415 unsupported_codecs %q", path, status, body, reason)
	}
}

func TestWHEPWithoutH264(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "bc", "name": "BC", "mode": "webinar", "broadcast": map[string]any{"hls": true}})
	startWHIP(t, a, "bc", a.tokenFor("host", "bc", access.Host), webrtc.MimeTypeH264, 1)
	token := a.tokenFor("viewer", "bc", access.Viewer)

	pc := noH264PC(t)
	v := &whepViewer{whipPeer: &whipPeer{t: t, pc: pc}, kinds: map[string]*received{}, more: make(chan struct{}, 1)}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { go v.read(tr) })
	addSections(t, pc, webrtc.RTPTransceiverDirectionRecvonly, "video", "audio")
	status, h, answer := httpDo(t, "POST", a.url+"/whep/bc", token, "application/sdp", offerWithoutCandidates(t, pc))
	if status != http.StatusCreated {
		t.Fatalf("POST: %d %s", status, answer)
	}
	if got := h.Get("Lectern-Warning"); got != "unsupported_codecs: "+wantViewReason {
		t.Errorf("Lectern-Warning = %q", got)
	}
	checkAnswerConnectable(t, answer)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	v.waitFor("Opus", func(_, audio received) bool { return audio.packets > 10 && audio.codec == "audio/opus" })

	only := noH264PC(t)
	addSections(t, only, webrtc.RTPTransceiverDirectionRecvonly, "video")
	checkRefused(t, a, "/whep/bc", token, offerWithoutCandidates(t, only), wantViewReason)
}

// On the room socket: a publisher's answer says what it rejected, an offer
// of VP8 video alone is refused, and a subscriber whose answers reject the
// room's H.264 hears so in the reply to its answer, and still gets the audio.
func TestSocketWithoutH264(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "bc", "name": "BC", "mode": "webinar", "broadcast": map[string]any{"hls": true}})
	c := dialRoom(t, a, "bc", a.tokenFor("host", "bc", access.Host))
	c.next("welcome")

	only := noH264PC(t)
	addSections(t, only, webrtc.RTPTransceiverDirectionSendonly, "video")
	c.send(map[string]any{"type": "publish", "id": "p1", "sdp": offerWithoutCandidates(t, only)})
	if m := c.next("answer", "error"); m["type"] != "error" || m["id"] != "p1" || m["code"] != "unsupported_codecs" || m["message"] != wantPublishReason {
		t.Errorf("publish of VP8 alone: %v", m)
	}

	pc := noH264PC(t)
	audio := addSections(t, pc, webrtc.RTPTransceiverDirectionSendonly, "video", "audio")
	c.send(map[string]any{"type": "publish", "id": "p2", "sdp": offerWithoutCandidates(t, pc)})
	m := c.next("answer", "error")
	if m["type"] != "answer" || m["code"] != "unsupported_codecs" || m["message"] != wantPublishReason {
		t.Fatalf("publish of VP8 and Opus: %v", m)
	}
	answer, _ := m["sdp"].(string)
	checkAnswerConnectable(t, answer)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, pc)
	pumpAudio(t, audio)

	// A viewer without H.264 watches an H.264 publisher.
	startWHIP(t, a, "bc", a.tokenFor("encoder", "bc", access.Host), webrtc.MimeTypeH264, 1)
	w := dialRaw(t, a, "bc", a.tokenFor("viewer", "bc", access.Viewer))
	var sub *webrtc.PeerConnection
	ufrag := ""
	got := make(chan struct{}, 1)
	refused, heard := false, false
	deadline := time.After(20 * time.Second)
	for n := 0; !refused || !heard; {
		select {
		case <-got:
			heard = true
		case m := <-w.in:
			if m == nil {
				t.Fatal("the viewer's socket closed")
			}
			switch {
			case m["type"] == "offer":
				offer, _ := m["sdp"].(string)
				// An offer with new ICE credentials comes from a new
				// server connection (docs/protocol.md): answer on a new one.
				if u := iceUfrag(offer); u != ufrag {
					ufrag, sub = u, noH264PC(t)
					sub.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
						for {
							if _, _, err := tr.ReadRTP(); err != nil {
								return
							}
							if tr.Kind() == webrtc.RTPCodecTypeAudio {
								select {
								case got <- struct{}{}:
								default:
								}
							}
						}
					})
				}
				if err := sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
					t.Fatal(err)
				}
				ans, _ := sub.CreateAnswer(nil)
				gathered := webrtc.GatheringCompletePromise(sub)
				if err := sub.SetLocalDescription(ans); err != nil {
					t.Fatal(err)
				}
				<-gathered
				n++
				w.send(map[string]any{"type": "answer", "id": "a" + strconv.Itoa(n), "sdp": sub.LocalDescription().SDP})
			case m["type"] == "error":
				if m["code"] != "unsupported_codecs" || m["message"] != "this room sends H.264 video and your client cannot receive it" {
					t.Fatalf("answer refused: %v", m)
				}
				refused = true
			}
		case <-deadline:
			t.Fatalf("within 20 s: refusal heard %v, audio received %v", refused, heard)
		}
	}
}

// rawSocket is a room websocket that leaves every message, offers too, to the test.
type rawSocket struct {
	t    *testing.T
	conn *websocket.Conn
	in   chan map[string]any
}

func dialRaw(t *testing.T, a *testAPI, room, token string) *rawSocket {
	t.Helper()
	url := "ws" + strings.TrimPrefix(a.url, "http") + "/api/v1/rooms/" + room + "/ws"
	conn, _, err := websocket.Dial(t.Context(), url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(1 << 20)
	s := &rawSocket{t: t, conn: conn, in: make(chan map[string]any, 64)}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.in)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) != nil {
				continue
			}
			select {
			case s.in <- m:
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		conn.Close(websocket.StatusNormalClosure, "test over")
		<-done
	})
	return s
}

func (s *rawSocket) send(m map[string]any) {
	s.t.Helper()
	data, _ := json.Marshal(m)
	if err := s.conn.Write(s.t.Context(), websocket.MessageText, data); err != nil {
		s.t.Fatal(err)
	}
}
