package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/internal/peertest"
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
			_, err = pc.AddTransceiverFromTrack(peertest.LenientTrack{TrackLocalStaticRTP: video}, webrtc.RTPTransceiverInit{Direction: dir})
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
	peertest.CheckBundle(t, answer)
	if !strings.Contains(answer, "m=video 0 ") {
		t.Fatalf("the answer accepts the video:\n%s", answer)
	}
}

// pumpAudio sends Opus packets on tr until the test ends.
func pumpAudio(t *testing.T, tr *webrtc.TrackLocalStaticRTP) {
	peertest.Pump(t, 10*time.Millisecond, func(i int) {
		tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 480}, Payload: []byte{0xfc, 0xff, 7}})
	})
}

func TestWHIPWithoutH264(t *testing.T) {
	for _, order := range [][]string{{"video", "audio"}, {"audio", "video"}} {
		t.Run(order[0]+" first", func(t *testing.T) {
			a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
			a.createRoom(map[string]any{"id": "bc", "name": "BC", "mode": "webinar", "broadcast": map[string]any{"hls": true}})
			viewer := startWHEP(t, a, "bc", a.tokenFor("viewer", "bc", access.Viewer))

			pc := peertest.NewNoH264Peer(t)
			audio := addSections(t, pc, webrtc.RTPTransceiverDirectionSendonly, order...)
			status, h, answer := httpDo(t, "POST", a.url+"/whip/bc", a.tokenFor("host", "bc", access.Host), "application/sdp", offerWithoutCandidates(t, pc))
			if status != http.StatusCreated {
				t.Fatalf("POST: %d %s", status, answer)
			}
			if got := h.Get("Lectern-Warning"); got != "unsupported_codecs: "+wantPublishReason {
				t.Errorf("Lectern-Warning = %q", got)
			}
			checkAnswerConnectable(t, answer)
			peertest.Accept(t, pc, answer)
			peertest.WaitConnected(t, pc, 30*time.Second)
			pumpAudio(t, audio)
			viewer.waitFor("the publisher's audio", func(_, audio received) bool { return audio.packets > 10 && audio.mark == 7 })
		})
	}
	t.Run("video only", func(t *testing.T) {
		a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
		a.createRoom(map[string]any{"id": "bc", "name": "BC", "mode": "webinar", "broadcast": map[string]any{"hls": true}})
		pc := peertest.NewNoH264Peer(t)
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

	pc := peertest.NewNoH264Peer(t)
	v := &whepViewer{whipPeer: &whipPeer{t: t, pc: pc}, kinds: map[string]*received{}, more: make(chan struct{}, 1)}
	peertest.ReadTracks(t, pc, v.read)
	addSections(t, pc, webrtc.RTPTransceiverDirectionRecvonly, "video", "audio")
	status, h, answer := httpDo(t, "POST", a.url+"/whep/bc", token, "application/sdp", offerWithoutCandidates(t, pc))
	if status != http.StatusCreated {
		t.Fatalf("POST: %d %s", status, answer)
	}
	if got := h.Get("Lectern-Warning"); got != "unsupported_codecs: "+wantViewReason {
		t.Errorf("Lectern-Warning = %q", got)
	}
	checkAnswerConnectable(t, answer)
	peertest.Accept(t, pc, answer)
	v.waitFor("Opus", func(_, audio received) bool { return audio.packets > 10 && audio.codec == "audio/opus" })

	only := peertest.NewNoH264Peer(t)
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

	only := peertest.NewNoH264Peer(t)
	addSections(t, only, webrtc.RTPTransceiverDirectionSendonly, "video")
	c.send(map[string]any{"type": "publish", "id": "p1", "sdp": offerWithoutCandidates(t, only)})
	if m := c.next("answer", "error"); m["type"] != "error" || m["id"] != "p1" || m["code"] != "unsupported_codecs" || m["message"] != wantPublishReason {
		t.Errorf("publish of VP8 alone: %v", m)
	}

	pc := peertest.NewNoH264Peer(t)
	audio := addSections(t, pc, webrtc.RTPTransceiverDirectionSendonly, "video", "audio")
	c.send(map[string]any{"type": "publish", "id": "p2", "sdp": offerWithoutCandidates(t, pc)})
	m := c.next("answer", "error")
	if m["type"] != "answer" || m["code"] != "unsupported_codecs" || m["message"] != wantPublishReason {
		t.Fatalf("publish of VP8 and Opus: %v", m)
	}
	answer, _ := m["sdp"].(string)
	checkAnswerConnectable(t, answer)
	peertest.Accept(t, pc, answer)
	peertest.WaitConnected(t, pc, 30*time.Second)
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
					ufrag, sub = u, peertest.NewNoH264Peer(t)
					peertest.ReadTracks(t, sub, func(tr *webrtc.TrackRemote, _ *rtp.Packet) {
						if tr.Kind() == webrtc.RTPCodecTypeAudio {
							select {
							case got <- struct{}{}:
							default:
							}
						}
					})
				}
				ans, err := peertest.Answer(sub, offer)
				if err != nil {
					t.Fatal(err)
				}
				n++
				w.send(map[string]any{"type": "answer", "id": "a" + strconv.Itoa(n), "sdp": ans})
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
		readMessages(conn, func(m map[string]any, _ []byte) bool {
			if m == nil {
				return true
			}
			select {
			case s.in <- m:
				return true
			case <-stop:
				return false
			}
		})
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
