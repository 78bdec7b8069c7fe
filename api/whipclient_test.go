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

	"lectern/internal/peertest"
	"lectern/sfu"
)

// whipPeer is a client that speaks only standard WHIP/WHEP HTTP (net/http) and
// pion: no websocket, no Lectern API.
type whipPeer struct {
	t              *testing.T
	base, token    string
	pc             *webrtc.PeerConnection
	location, etag string
	answer         string
}

// httpDo sends one request and returns its status, headers and body.
func httpDo(t *testing.T, method, url, token, ctype, body string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, string(data)
}

// post offers the peer's description to endpoint (RFC 9725 section 4.2) and
// applies the answer; it fails the test unless the server creates a session.
func (w *whipPeer) post(endpoint string) {
	w.t.Helper()
	status, h, body := httpDo(w.t, "POST", w.base+endpoint, w.token, "application/sdp", peertest.Offer(w.t, w.pc))
	if status != http.StatusCreated || h.Get("Content-Type") != "application/sdp" || h.Get("ETag") == "" ||
		!strings.HasPrefix(h.Get("Location"), endpoint+"/") {
		w.t.Fatalf("POST %s: %d %v %s", endpoint, status, h, body)
	}
	w.location, w.etag, w.answer = h.Get("Location"), h.Get("ETag"), body
	peertest.Accept(w.t, w.pc, body)
}

// do sends a request on the peer's session resource.
func (w *whipPeer) do(method, ctype, body string, header ...string) (int, string) {
	w.t.Helper()
	status, _, data := httpDo(w.t, method, w.base+w.location, w.token, ctype, body, header...)
	return status, data
}

// startWHIP publishes synthetic video (H.264 or VP8) and Opus over WHIP until
// the test ends. Every payload ends with mark, so viewers can tell publishers apart.
func startWHIP(t *testing.T, a *testAPI, room, token, videoMime string, mark byte) *whipPeer {
	t.Helper()
	w := &whipPeer{t: t, base: a.url, token: token, pc: peertest.NewPeer(t, nil, webrtc.Configuration{})}
	video, _ := peertest.SendTrack(t, w.pc, webrtc.RTPCodecCapability{MimeType: videoMime}, "v", "whip")
	audio, _ := peertest.SendTrack(t, w.pc, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "a", "whip")
	w.post("/whip/" + room)
	peertest.Pump(t, 5*time.Millisecond, func(i int) {
		var payload []byte
		switch key := i%10 == 0; {
		case videoMime == webrtc.MimeTypeH264 && key: // STAP-A: SPS, PPS, IDR (RFC 6184 section 5.7.1)
			payload = []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce, 0x00, 0x02, 0x65, 0x88}
		case videoMime == webrtc.MimeTypeH264:
			payload = []byte{0x41, 0x9a, 0x00}
		case key: // VP8 keyframe (RFC 7741 section 4.3)
			payload = []byte{0x10, 0x00, 0x9d, 0x01, 0x2a}
		default:
			payload = []byte{0x10, 0x01, 0x00}
		}
		video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(i), Timestamp: uint32(i) * 450}, Payload: append(payload, mark)})
		audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 240}, Payload: []byte{0xfc, 0xff, mark}})
	})
	return w
}

// whepViewer is a receive-only pion peer that keeps what it got per kind.
type whepViewer struct {
	*whipPeer
	mu    sync.Mutex
	kinds map[string]*received
	more  chan struct{}
}

// received is what arrived on one track.
type received struct {
	codec   string
	packets int
	// mark is the last payload byte of the latest packet, naming its publisher.
	mark    byte
	lastSeq uint16
	lastTS  uint32
	// switches counts changes of publisher; the last one was from switchedFrom,
	// with these steps in sequence number and timestamp.
	switches        int
	switchedFrom    byte
	seqJump, tsJump int
	// switchPayload is the first payload after the last switch.
	switchPayload []byte
}

// startWHEP connects a viewer with receive-only video and audio sections.
func startWHEP(t *testing.T, a *testAPI, room, token string) *whepViewer {
	t.Helper()
	v := &whepViewer{whipPeer: &whipPeer{t: t, base: a.url, token: token, pc: peertest.NewPeer(t, nil, webrtc.Configuration{})},
		kinds: map[string]*received{}, more: make(chan struct{}, 1)}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := v.pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	peertest.ReadTracks(t, v.pc, v.read)
	v.post("/whep/" + room)
	return v
}

// read keeps what pkt, arrived on tr, says.
func (v *whepViewer) read(tr *webrtc.TrackRemote, pkt *rtp.Packet) {
	kind := tr.Kind().String()
	if len(pkt.Payload) == 0 {
		return
	}
	mark := pkt.Payload[len(pkt.Payload)-1]
	v.mu.Lock()
	r := v.kinds[kind]
	if r == nil {
		r = &received{codec: strings.ToLower(tr.Codec().MimeType), mark: mark}
		v.kinds[kind] = r
	}
	if r.packets > 0 && mark != r.mark {
		r.switches++
		r.switchedFrom = r.mark
		r.seqJump = int(int16(pkt.SequenceNumber - r.lastSeq))
		r.tsJump = int(int32(pkt.Timestamp - r.lastTS))
		r.switchPayload = append([]byte(nil), pkt.Payload...)
	}
	r.packets++
	r.mark, r.lastSeq, r.lastTS = mark, pkt.SequenceNumber, pkt.Timestamp
	v.mu.Unlock()
	select {
	case v.more <- struct{}{}:
	default:
	}
}

// waitFor waits until cond holds for what the viewer received.
func (v *whepViewer) waitFor(what string, cond func(video, audio received) bool) {
	v.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		v.mu.Lock()
		var video, audio received
		if r := v.kinds["video"]; r != nil {
			video = *r
		}
		if r := v.kinds["audio"]; r != nil {
			audio = *r
		}
		v.mu.Unlock()
		if cond(video, audio) {
			return
		}
		select {
		case <-v.more:
		case <-deadline:
			v.t.Fatalf("viewer: no %s within 10 s; video %+v, audio %+v", what, video, audio)
		}
	}
}

// waitMedia waits for more packets of both kinds from the publisher marked mark.
func (v *whepViewer) waitMedia(videoMime string, mark byte) {
	v.t.Helper()
	v.mu.Lock()
	base := map[string]int{}
	for k, r := range v.kinds {
		base[k] = r.packets
	}
	v.mu.Unlock()
	v.waitFor("media marked "+string('0'+mark), func(video, audio received) bool {
		return video.packets > base["video"]+10 && audio.packets > base["audio"]+10 && video.mark == mark && audio.mark == mark &&
			video.codec == strings.ToLower(videoMime) && audio.codec == "audio/opus"
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

// offerOf returns an offer with one video section of one codec.
func offerOf(t *testing.T, mime string, dir webrtc.RTPTransceiverDirection) string {
	t.Helper()
	m := &webrtc.MediaEngine{}
	c := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}, PayloadType: 96}
	if mime == webrtc.MimeTypeH264 {
		c.SDPFmtpLine = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	}
	if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: dir}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}
