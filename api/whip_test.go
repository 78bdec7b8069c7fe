package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/internal/peertest"
	"lectern/storage/storagetest"
)

func TestWHIPToWHEPBroadcastRoomIsH264(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		a := newTestAPI(t, b)
		a.createRoom(map[string]any{"id": "bc", "name": "BC", "mode": "webinar", "broadcast": map[string]any{"hls": true}})
		// The viewer comes first: it is answered, and idles until the host publishes.
		viewer := startWHEP(t, a, "bc", a.tokenFor("viewer", "bc", access.Viewer))
		pub := startWHIP(t, a, "bc", a.tokenFor("host", "bc", access.Host), webrtc.MimeTypeH264, 1)
		if !strings.Contains(pub.answer, "H264/90000") || strings.Contains(pub.answer, "VP8") {
			t.Errorf("WHIP answer in a broadcast room must offer H.264 only:\n%s", pub.answer)
		}
		viewer.waitMedia(webrtc.MimeTypeH264, 1)

		frag := "a=ice-ufrag:" + iceUfrag(viewer.pc.LocalDescription().SDP) + "\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n" +
			"a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\na=end-of-candidates\r\n"
		if status, body := viewer.do("PATCH", "application/trickle-ice-sdpfrag", frag, "If-Match", viewer.etag); status != http.StatusNoContent {
			t.Errorf("PATCH trickle: %d %s", status, body)
		}
		if status, body := pub.do("DELETE", "", ""); status != http.StatusOK {
			t.Errorf("DELETE: %d %s", status, body)
		}
		if status, _ := pub.do("PATCH", "application/trickle-ice-sdpfrag", frag); status != http.StatusNotFound {
			t.Errorf("PATCH after DELETE: %d, want 404", status)
		}
		if status, _ := pub.do("DELETE", "", ""); status != http.StatusNotFound {
			t.Errorf("DELETE after DELETE: %d, want 404", status)
		}
	})
}

func TestWHIPToWHEPConferenceRoomFollowsTheProgram(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "cf", "name": "CF"})
	first := startWHIP(t, a, "cf", a.tokenFor("first", "cf", access.Member), webrtc.MimeTypeVP8, 1)
	viewer := startWHEP(t, a, "cf", a.tokenFor("viewer", "cf", access.Viewer))
	viewer.waitMedia(webrtc.MimeTypeVP8, 1)

	// A later publisher does not take the program; when the first leaves, the
	// viewer's senders switch to it without renegotiation, in one stream.
	startWHIP(t, a, "cf", a.tokenFor("second", "cf", access.Member), webrtc.MimeTypeVP8, 2)
	a.waitTracks("cf", 4)
	if status, body := first.do("DELETE", "", ""); status != http.StatusOK {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	viewer.waitMedia(webrtc.MimeTypeVP8, 2)
	viewer.mu.Lock()
	defer viewer.mu.Unlock()
	// The stream continues on the same SSRC: sequence numbers and timestamps
	// move forward (else SRTP replay protection would drop the new packets), and
	// video resumes at a keyframe.
	for kind, r := range viewer.kinds {
		if r.switches != 1 || r.switchedFrom != 1 || r.seqJump < 1 || r.seqJump > 20 || r.tsJump <= 0 {
			t.Errorf("%s: %d switches from %d, sequence %+d, timestamp %+d; want one switch from 1 continuing the stream",
				kind, r.switches, r.switchedFrom, r.seqJump, r.tsJump)
		}
	}
	if p := viewer.kinds["video"].switchPayload; len(p) < 2 || p[1]&0x01 != 0 {
		t.Errorf("video resumed with %x, not a VP8 keyframe", p)
	}
}

// TestWHEPFollowsTheOnAirChoice: in a broadcast room, WHEP viewers see what
// the program has on air, as HLS viewers do: a moderator puts the second
// publisher on air and the viewer's stream switches to it; back to automatic,
// it returns to the first.
func TestWHEPFollowsTheOnAirChoice(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "oa", "name": "OA", "mode": "webinar", "broadcast": map[string]any{"hls": true}})
	startWHIP(t, a, "oa", a.tokenFor("host", "oa", access.Host), webrtc.MimeTypeH264, 1)
	viewer := startWHEP(t, a, "oa", a.tokenFor("viewer", "oa", access.Viewer))
	viewer.waitMedia(webrtc.MimeTypeH264, 1)
	startWHIP(t, a, "oa", a.tokenFor("guest", "oa", access.Speaker), webrtc.MimeTypeH264, 2)
	a.waitTracks("oa", 4)
	room, _ := a.media.LiveRoom("oa")
	var second string
	for _, tr := range room.Tracks() {
		if tr.Owner().Identity() == "guest" && tr.Info().Kind == "video" {
			second = tr.ID()
		}
	}
	path := "/api/v1/rooms/oa/broadcast"
	a.must(http.StatusOK, "PATCH", path, a.adminKey, map[string]any{"on_air": map[string]any{"video": second}})
	viewer.waitMedia(webrtc.MimeTypeH264, 2)
	a.must(http.StatusOK, "PATCH", path, a.adminKey, map[string]any{"on_air": map[string]any{"video": nil}})
	viewer.waitMedia(webrtc.MimeTypeH264, 1)
}

func TestWHIPSessionsEndWithTheSFU(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "cf", "name": "CF"})
	startWHIP(t, a, "cf", a.tokenFor("host", "cf", access.Member), webrtc.MimeTypeVP8, 1)
	viewer := startWHEP(t, a, "cf", a.tokenFor("viewer", "cf", access.Viewer))
	viewer.waitMedia(webrtc.MimeTypeVP8, 1)

	// Revoking subscribe ends a WHEP session, which cannot renegotiate.
	r, _ := a.media.LiveRoom("cf")
	for _, p := range r.Participants() {
		if p.Identity() == "viewer" {
			p.SetPermissions(0)
			select {
			case <-p.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the WHEP session outlived its subscribe permission")
			}
		}
	}
	if status, _ := viewer.do("DELETE", "", ""); status != http.StatusNotFound {
		t.Errorf("DELETE of a session whose permission was revoked: %d, want 404", status)
	}

	a.media.Close()
	done := make(chan struct{})
	go func() { a.srv.whip.wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("WHIP session watchers still running after the SFU closed")
	}
	a.srv.whip.mu.Lock()
	defer a.srv.whip.mu.Unlock()
	if len(a.srv.whip.m) != 0 {
		t.Errorf("%d sessions left after the SFU closed", len(a.srv.whip.m))
	}
}

func TestServerCloseEndsWHIPSessions(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "cf", "name": "CF"})
	startWHIP(t, a, "cf", a.tokenFor("host", "cf", access.Member), webrtc.MimeTypeVP8, 1)
	startWHEP(t, a, "cf", a.tokenFor("viewer", "cf", access.Viewer))
	r, _ := a.media.LiveRoom("cf")
	parts := r.Participants()
	if len(parts) != 2 {
		t.Fatalf("%d participants live, want the WHIP and the WHEP session", len(parts))
	}

	done := make(chan struct{})
	go func() { a.srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return")
	}
	for _, p := range parts {
		select {
		case <-p.Done():
		default:
			t.Errorf("participant %s still live after Close", p.Identity())
		}
	}
	a.srv.whip.mu.Lock()
	defer a.srv.whip.mu.Unlock()
	if len(a.srv.whip.m) != 0 {
		t.Errorf("%d sessions left after Close", len(a.srv.whip.m))
	}
}

func TestWHIPAndWHEPRefusals(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "bc", "name": "BC", "mode": "webinar", "broadcast": map[string]any{"hls": true}})
	a.createRoom(map[string]any{"id": "cf", "name": "CF"})
	startWHIP(t, a, "bc", a.tokenFor("host", "bc", access.Host), webrtc.MimeTypeH264, 1)
	viewer := startWHEP(t, a, "bc", a.tokenFor("viewer", "bc", access.Viewer))
	viewer.waitMedia(webrtc.MimeTypeH264, 1)
	moderator := dialRoom(t, a, "bc", a.tokenFor("mod", "bc", access.Host))
	moderator.next("welcome")
	settle(moderator)

	trickle := "a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n"
	restart := "a=ice-ufrag:Zz9y\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" + trickle
	other := a.tokenFor("other", "bc", access.Viewer)
	whipPath := strings.Replace(viewer.location, "/whep/", "/whip/", 1)
	cases := []struct {
		name, method, path, token, ctype, body string
		header                                 []string
		status                                 int
		code                                   string
	}{
		{"WHEP without subscribe", "POST", "/whep/bc", a.tokenFor("p", "bc", access.Publish), "application/sdp", "v=0", nil, 403, "permission_denied"},
		{"WHIP without publish", "POST", "/whip/bc", other, "application/sdp", "v=0", nil, 403, "permission_denied"},
		{"no token", "POST", "/whip/bc", "", "application/sdp", "v=0", nil, 401, "unauthorized"},
		{"token of another room", "POST", "/whip/bc", a.tokenFor("host", "cf", access.Host), "application/sdp", "v=0", nil, 401, "token_wrong_room"},
		{"unknown stream key", "POST", "/whip/bc", "sk_nope", "application/sdp", "v=0", nil, 401, "invalid_stream_key"},
		{"unknown room", "POST", "/whip/nope", a.tokenFor("host", "nope", access.Host), "application/sdp", offerOf(t, webrtc.MimeTypeH264, webrtc.RTPTransceiverDirectionSendonly), nil, 404, "room_not_found"},
		{"wrong content type", "POST", "/whip/bc", a.tokenFor("host", "bc", access.Host), "application/json", "{}", nil, 415, "unsupported_media_type"},
		{"body over 64 KiB", "POST", "/whep/bc", other, "application/sdp", strings.Repeat("a", 64<<10+1), nil, 413, "body_too_large"},
		{"malformed SDP", "POST", "/whip/bc", a.tokenFor("host", "bc", access.Host), "application/sdp", "not sdp", nil, 400, "invalid_sdp"},
		{"VP8 only into a broadcast room", "POST", "/whip/bc", a.tokenFor("host", "bc", access.Host), "application/sdp", offerOf(t, webrtc.MimeTypeVP8, webrtc.RTPTransceiverDirectionSendonly), nil, 415, "unsupported_codecs"},
		{"VP8 only viewer of a broadcast room", "POST", "/whep/bc", other, "application/sdp", offerOf(t, webrtc.MimeTypeVP8, webrtc.RTPTransceiverDirectionRecvonly), nil, 415, "unsupported_codecs"},
		{"WHEP offer with nothing to receive", "POST", "/whep/bc", other, "application/sdp", offerOf(t, webrtc.MimeTypeH264, webrtc.RTPTransceiverDirectionSendonly), nil, 400, "invalid_sdp"},
		{"unknown session", "PATCH", "/whep/bc/nope", viewer.token, "application/trickle-ice-sdpfrag", trickle, nil, 404, "session_not_found"},
		{"another identity's session", "PATCH", viewer.location, other, "application/trickle-ice-sdpfrag", trickle, nil, 404, "session_not_found"},
		{"a WHEP session on the WHIP path", "PATCH", whipPath, viewer.token, "application/trickle-ice-sdpfrag", trickle, nil, 404, "session_not_found"},
		{"trickle of the wrong type", "PATCH", viewer.location, viewer.token, "application/sdp", trickle, nil, 415, "unsupported_media_type"},
		{"trickle with a stale ETag", "PATCH", viewer.location, viewer.token, "application/trickle-ice-sdpfrag", trickle, []string{"If-Match", `"stale"`}, 412, "precondition_failed"},
		{"ICE restart", "PATCH", viewer.location, viewer.token, "application/trickle-ice-sdpfrag", restart, []string{"If-Match", "*"}, 422, "ice_restart_unsupported"},
		{"malformed fragment", "PATCH", viewer.location, viewer.token, "application/trickle-ice-sdpfrag", "garbage", nil, 400, "invalid_sdp"},
		{"DELETE of another identity's session", "DELETE", viewer.location, other, "", "", nil, 404, "session_not_found"},
		{"GET of a session", "GET", viewer.location, viewer.token, "", "", nil, 405, "method_not_allowed"},
	}
	for _, tc := range cases {
		status, _, body := httpDo(t, tc.method, a.url+tc.path, tc.token, tc.ctype, tc.body, tc.header...)
		if status != tc.status || !strings.Contains(body, `"code":"`+tc.code+`"`) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, body, tc.status, tc.code)
		}
	}

	// None of that reached the room: nobody joined or left, the viewer still
	// receives, and its session still takes trickle.
	for _, m := range settle(moderator) {
		if m["type"] == "participant_joined" || m["type"] == "participant_left" {
			t.Errorf("a refused request showed in the room: %v", m)
		}
	}
	if r, _ := a.media.LiveRoom("bc"); len(r.Participants()) != 3 || len(r.Tracks()) != 2 {
		t.Errorf("room has %d participants and %d tracks, want 3 and 2", len(r.Participants()), len(r.Tracks()))
	}
	viewer.waitMedia(webrtc.MimeTypeH264, 1)
	if status, body := viewer.do("PATCH", "application/trickle-ice-sdpfrag", trickle, "If-Match", viewer.etag); status != http.StatusNoContent {
		t.Errorf("PATCH: %d %s", status, body)
	}
	if status, h, _ := httpDo(t, "OPTIONS", a.url+"/whip/bc", "", "", ""); status != http.StatusNoContent || h.Get("Accept-Post") != "application/sdp" {
		t.Errorf("OPTIONS: %d %v", status, h)
	}

	// The room's stream key publishes over WHIP, as OBS sends it, and only the
	// key ends that session: not a token whose identity looks the same.
	key := a.must(http.StatusCreated, "POST", "/api/v1/rooms/bc/stream-key", a.adminKey, nil).str("stream_key")
	obs := startWHIP(t, a, "bc", key, webrtc.MimeTypeH264, 3)
	status, _, _ := httpDo(t, "DELETE", a.url+obs.location, a.tokenFor("encoder", "bc", access.Host), "", "")
	if status != http.StatusNotFound {
		t.Errorf("DELETE of the stream key's session with a token: %d, want 404", status)
	}
	if status, body := obs.do("DELETE", "", ""); status != http.StatusOK {
		t.Errorf("DELETE with the stream key: %d %s", status, body)
	}
}

// A viewer whose offer has no codec of the room's video still gets the audio;
// its video section is rejected in the answer (port 0).
func TestWHEPTakesTheSectionsItCanFill(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	a.createRoom(map[string]any{"id": "bc", "name": "BC", "mode": "webinar", "broadcast": map[string]any{"hls": true}})
	startWHIP(t, a, "bc", a.tokenFor("host", "bc", access.Host), webrtc.MimeTypeH264, 1)
	// A client that knows VP8 and Opus only.
	pc := peertest.NewPeer(t, peertest.NewAPI(t, peertest.Options{Video: []webrtc.RTPCodecParameters{peertest.VP8}, Audio: []webrtc.RTPCodecParameters{peertest.Opus}}), webrtc.Configuration{})
	v := &whepViewer{whipPeer: &whipPeer{t: t, base: a.url, token: a.tokenFor("viewer", "bc", access.Viewer), pc: pc},
		kinds: map[string]*received{}, more: make(chan struct{}, 1)}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	peertest.ReadTracks(t, pc, v.read)
	v.post("/whep/bc")
	if !strings.Contains(v.answer, "m=video 0 ") {
		t.Errorf("the VP8-only video section was not rejected:\n%s", v.answer)
	}
	v.waitFor("Opus", func(_, audio received) bool { return audio.packets > 10 && audio.codec == "audio/opus" })
}

// settle returns what the socket received until two ping round trips: the
// server writes every event queued before the first ping ahead of the second
// pong.
func settle(c *wsClient) []map[string]any {
	c.t.Helper()
	var got []map[string]any
	for _, id := range []string{"settle-1", "settle-2"} {
		c.send(map[string]any{"type": "ping", "id": id})
		for {
			m := c.next("pong", "participant_joined", "participant_left", "participant_updated", "track_published", "track_unpublished", "error")
			if m["type"] == "pong" && m["id"] == id {
				break
			}
			got = append(got, m)
		}
	}
	return got
}
