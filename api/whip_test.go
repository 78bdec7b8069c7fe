package api

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/sfu"
	"lectern/storage/storagetest"
)

// whipClient speaks only standard WHIP/WHEP HTTP and pion.
type whipClient struct {
	t        *testing.T
	a        *testAPI
	pc       *webrtc.PeerConnection
	location string
	token    string
}

// post sends the peer's offer to endpoint and applies the answer.
func (w *whipClient) post(endpoint string) (*http.Response, string) {
	w.t.Helper()
	offer, err := w.pc.CreateOffer(nil)
	if err != nil {
		w.t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(w.pc)
	w.pc.SetLocalDescription(offer)
	<-gathered
	res, body := w.a.raw("POST", endpoint, w.token, "application/sdp", w.pc.LocalDescription().SDP)
	if res.StatusCode == http.StatusCreated {
		w.location = res.Header.Get("Location")
		if err := w.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: body}); err != nil {
			w.t.Fatalf("answer: %v", err)
		}
	}
	return res, body
}

// raw sends a request with a content type and returns the response and body.
func (a *testAPI) raw(method, path, token, ctype, body string) (*http.Response, string) {
	a.t.Helper()
	req, _ := http.NewRequestWithContext(a.t.Context(), method, a.url+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res, string(data)
}

func newWHIPPublisher(t *testing.T, a *testAPI, token, videoMime string) (*whipClient, func()) {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	video, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: videoMime}, "v", "whip")
	audio, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "a", "whip")
	for _, tr := range []*webrtc.TrackLocalStaticRTP{video, audio} {
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	pump := func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			payload := []byte{0x10, 0x01, 0, 0} // VP8 delta
			if videoMime == webrtc.MimeTypeH264 {
				payload = []byte{0x41, 0x9a, 0, 0} // non-IDR slice
				if i%10 == 0 {
					payload = []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce, 0x00, 0x02, 0x65, 0x88}
				}
			} else if i%10 == 0 {
				payload = []byte{0x10, 0x00, 0x9d, 0x01, 0x2a}
			}
			video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 450}, Payload: payload})
			audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 240}, Payload: []byte{0xfc, 0xff, 0xfe}})
		}
	}
	return &whipClient{t: t, a: a, pc: pc, token: token}, func() {
		go pump()
		t.Cleanup(func() { close(stop); <-done })
	}
}

// whepViewer is a receive-only pion peer that records codecs and packet counts.
type whepViewer struct {
	*whipClient
	mu     sync.Mutex
	codecs map[string]int
	more   chan struct{}
}

func newWHEPViewer(t *testing.T, a *testAPI, token string) *whepViewer {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	}
	v := &whepViewer{whipClient: &whipClient{t: t, a: a, pc: pc, token: token}, codecs: map[string]int{}, more: make(chan struct{}, 1)}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		go func() {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				v.mu.Lock()
				v.codecs[strings.ToLower(tr.Codec().MimeType)]++
				v.mu.Unlock()
				select {
				case v.more <- struct{}{}:
				default:
				}
			}
		}()
	})
	return v
}

// waitCodecs waits for packets of both codecs.
func (v *whepViewer) waitCodecs(video, audio string) {
	v.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		v.mu.Lock()
		ok := v.codecs[strings.ToLower(video)] > 10 && v.codecs[strings.ToLower(audio)] > 10
		got := len(v.codecs)
		v.mu.Unlock()
		if ok && got == 2 {
			return
		}
		select {
		case <-v.more:
		case <-deadline:
			v.mu.Lock()
			defer v.mu.Unlock()
			v.t.Fatalf("WHEP viewer got %v, want %s and %s", v.codecs, video, audio)
		}
	}
}

func TestWHIPAndWHEPRoundTrip(t *testing.T) {
	cases := []struct {
		name, mime string
		room       map[string]any
	}{
		{"broadcast room negotiates H.264", webrtc.MimeTypeH264, map[string]any{"id": "bc", "name": "BC", "mode": "webinar", "broadcast": map[string]any{"hls": true}}},
		{"conference room takes VP8", webrtc.MimeTypeVP8, map[string]any{"id": "cf", "name": "CF"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
				a := newTestAPI(t, b)
				a.createRoom(tc.room)
				id := tc.room["id"].(string)
				pub, start := newWHIPPublisher(t, a, a.tokenFor("host", id, access.Host), tc.mime)
				if res, body := pub.post("/whip/" + id); res.StatusCode != http.StatusCreated || res.Header.Get("Content-Type") != "application/sdp" ||
					!strings.HasPrefix(pub.location, "/whip/"+id+"/") {
					t.Fatalf("WHIP: %d %s %q", res.StatusCode, body, pub.location)
				}
				start()
				a.waitTracks(id, 2)
				viewer := newWHEPViewer(t, a, a.tokenFor("viewer", id, access.Viewer))
				if res, body := viewer.post("/whep/" + id); res.StatusCode != http.StatusCreated {
					t.Fatalf("WHEP: %d %s", res.StatusCode, body)
				}
				viewer.waitCodecs(tc.mime, webrtc.MimeTypeOpus)

				// Trickle, then end the viewer; its resource is gone afterwards.
				frag := "a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n"
				if res, body := a.raw("PATCH", viewer.location, viewer.token, "application/trickle-ice-sdpfrag", frag); res.StatusCode != http.StatusNoContent {
					t.Errorf("PATCH: %d %s", res.StatusCode, body)
				}
				if res, _ := a.raw("DELETE", viewer.location, viewer.token, "", ""); res.StatusCode != http.StatusOK {
					t.Errorf("DELETE: %d", res.StatusCode)
				}
				if res, _ := a.raw("PATCH", viewer.location, viewer.token, "application/trickle-ice-sdpfrag", frag); res.StatusCode != http.StatusNotFound {
					t.Errorf("PATCH after DELETE: %d", res.StatusCode)
				}
			})
		})
	}
}

func TestWHIPRefusals(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "bc", "name": "BC", "mode": "webinar", "broadcast": map[string]any{"hls": true}})
	host := a.tokenFor("host", "bc", access.Host)
	vp8Only := offerOnly(t, webrtc.MimeTypeVP8)
	cases := []struct {
		name, method, path, token, ctype, body string
		status                                 int
		code                                   string
	}{
		{"WHEP without subscribe", "POST", "/whep/bc", a.tokenFor("pub", "bc", access.Publish), "application/sdp", "v=0", 403, "permission_denied"},
		{"WHIP without publish", "POST", "/whip/bc", a.tokenFor("v", "bc", access.Viewer), "application/sdp", "v=0", 403, "permission_denied"},
		{"no token", "POST", "/whip/bc", "", "application/sdp", "v=0", 401, "unauthorized"},
		{"wrong content type", "POST", "/whip/bc", host, "application/json", "{}", 415, "invalid_sdp"},
		{"malformed SDP", "POST", "/whip/bc", host, "application/sdp", "not sdp", 400, "invalid_sdp"},
		{"VP8 into a broadcast room", "POST", "/whip/bc", host, "application/sdp", vp8Only, 415, "unsupported_codecs"},
		{"bad stream key", "POST", "/whip/bc", "sk_nope", "application/sdp", "v=0", 401, "invalid_stream_key"},
		{"WHEP before anyone publishes", "POST", "/whep/bc", a.tokenFor("v", "bc", access.Viewer), "application/sdp", offerOnly(t, webrtc.MimeTypeH264), 409, "nothing_published"},
		{"unknown session", "PATCH", "/whip/bc/nope", host, "application/trickle-ice-sdpfrag", "a=end-of-candidates", 404, "session_not_found"},
	}
	for _, tc := range cases {
		res, body := a.raw(tc.method, tc.path, tc.token, tc.ctype, tc.body)
		if res.StatusCode != tc.status || !strings.Contains(body, `"code":"`+tc.code+`"`) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, res.StatusCode, body, tc.status, tc.code)
		}
	}
	// The stream key publishes over WHIP, as OBS sends it.
	key := a.must(http.StatusCreated, "POST", "/api/v1/rooms/bc/stream-key", a.adminKey, nil).str("stream_key")
	obs, _ := newWHIPPublisher(t, a, key, webrtc.MimeTypeH264)
	if res, body := obs.post("/whip/bc"); res.StatusCode != http.StatusCreated {
		t.Errorf("WHIP with the stream key: %d %s", res.StatusCode, body)
	}
}

// offerOnly returns an offer with one send-only video section of one codec.
func offerOnly(t *testing.T, mime string) string {
	t.Helper()
	m := &webrtc.MediaEngine{}
	c := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}, PayloadType: 96}
	if mime == webrtc.MimeTypeH264 {
		c.SDPFmtpLine = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	}
	m.RegisterCodec(c, webrtc.RTPCodecTypeVideo)
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	offer, _ := pc.CreateOffer(nil)
	return offer.SDP
}

func FuzzSDPFrag(f *testing.F) {
	for _, s := range []string{
		"a=ice-ufrag:x\r\na=ice-pwd:y\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\na=end-of-candidates\r\n",
		"a=candidate:1 1 udp\r\n", "garbage", "", "a=mid:\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, frag string) {
		cands, err := parseSDPFrag(frag)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not an API error", err)
			}
			return
		}
		for _, c := range cands {
			if !strings.HasPrefix(c.Candidate, "candidate:") || len(strings.Fields(c.Candidate)) < 8 {
				t.Fatalf("accepted candidate %q", c.Candidate)
			}
		}
	})
}

// waitTracks waits until the room carries n tracks (they appear with their first packets).
func (a *testAPI) waitTracks(room string, n int) {
	a.t.Helper()
	r, ok := a.media.LiveRoom(room)
	if !ok {
		a.t.Fatalf("room %s is not live", room)
	}
	changed := make(chan struct{}, 1)
	cancel := r.Observe(func(sfu.Event) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer cancel()
	deadline := time.After(10 * time.Second)
	for len(r.Tracks()) < n {
		select {
		case <-changed:
		case <-deadline:
			a.t.Fatalf("room %s did not get %d tracks", room, n)
		}
	}
}
