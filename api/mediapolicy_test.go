package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"lectern/access"
	"lectern/internal/peertest"
	"lectern/storage/storagetest"
)

// sourcesOf reads a list of source names from a response field.
func sourcesOf(v any) []string {
	out := []string{}
	list, _ := v.([]any)
	for _, s := range list {
		out = append(out, fmt.Sprint(s))
	}
	return out
}

func mediaOf(room map[string]any) (sources []string, simulcast bool) {
	m, _ := room["media"].(map[string]any)
	sim, _ := m["simulcast"].(bool)
	return sourcesOf(m["sources"]), sim
}

// TestRoomMediaPolicyREST sets policies on create and PATCH, refuses bad
// ones without changing anything, and sets the override on members and
// tokens.
func TestRoomMediaPolicyREST(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		a := newTestAPI(t, b)
		plain := a.createRoom(map[string]any{"id": "plain", "name": "Plain"})
		if src, sim := mediaOf(plain.body); !slices.Equal(src, []string{"microphone", "camera", "screen", "screen_audio"}) || !sim {
			t.Errorf("a room made without a policy takes %v, simulcast %v; want everything", src, sim)
		}
		radio := a.createRoom(map[string]any{"id": "radio", "name": "Radio", "media": map[string]any{"preset": "audio_only"}})
		if src, sim := mediaOf(radio.body); !slices.Equal(src, []string{"microphone"}) || sim {
			t.Errorf("audio_only takes %v, simulcast %v", src, sim)
		}
		for _, bad := range []struct{ body, says string }{
			{`{"media":{"preset":"tv"}}`, "media.preset"},
			{`{"media":{"sources":["webcam"]}}`, `"webcam" is not`},
			{`{"media":{"sources":["camera",""]}}`, `"" is not`},
			{`{"media":{"preset":"audio_only","sources":["camera"]}}`, "not both"},
			{`{"media":{"sources":"camera"}}`, "media.sources"},
			{`{"media":{"simulcast":"yes"}}`, "simulcast"},
			{`{"media":{"audio":true}}`, "audio"},
		} {
			r := a.do("PATCH", "/api/v1/rooms/radio", a.adminKey, bad.body)
			if r.status != http.StatusBadRequest || !strings.Contains(r.str("message"), bad.says) {
				t.Errorf("PATCH %s: %d %s; want 400 saying %q", bad.body, r.status, r.raw, bad.says)
			}
		}
		got := a.must(http.StatusOK, "GET", "/api/v1/rooms/radio", a.adminKey, nil)
		if src, sim := mediaOf(got.body); !slices.Equal(src, []string{"microphone"}) || sim {
			t.Errorf("after refused PATCHes the room takes %v, simulcast %v", src, sim)
		}
		up := a.must(http.StatusOK, "PATCH", "/api/v1/rooms/radio", a.adminKey,
			map[string]any{"media": map[string]any{"sources": []string{"screen", "microphone"}, "simulcast": true}})
		if src, sim := mediaOf(up.body); !slices.Equal(src, []string{"microphone", "screen"}) || !sim {
			t.Errorf("PATCH gave %v, simulcast %v", src, sim)
		}
		// simulcast alone keeps the sources.
		up = a.must(http.StatusOK, "PATCH", "/api/v1/rooms/radio", a.adminKey, map[string]any{"media": map[string]any{"simulcast": false}})
		if src, sim := mediaOf(up.body); !slices.Equal(src, []string{"microphone", "screen"}) || sim {
			t.Errorf("PATCH simulcast gave %v, simulcast %v", src, sim)
		}
		// A moderator may not change the policy.
		mod := a.tokenFor("mod", "radio", access.Host)
		if r := a.do("PATCH", "/api/v1/rooms/radio", mod, `{"media":{"preset":"everything"}}`); r.status != http.StatusForbidden {
			t.Errorf("moderator PATCH media: %d %s", r.status, r.raw)
		}

		m := a.must(http.StatusCreated, "POST", "/api/v1/rooms/radio/members", a.adminKey,
			map[string]any{"identity": "host", "preset": "host", "media_sources": []string{"camera"}})
		if got := sourcesOf(m.body["media_sources"]); !slices.Equal(got, []string{"camera"}) {
			t.Errorf("member media_sources = %v", got)
		}
		if r := a.do("PATCH", "/api/v1/rooms/radio/members/host", a.adminKey, `{"media_sources":["lens"]}`); r.status != http.StatusBadRequest || r.code() != codeInvalidMember {
			t.Errorf("bad member media_sources: %d %s", r.status, r.raw)
		}
		tok := a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey,
			map[string]any{"identity": "host", "rooms": map[string]any{"radio": map[string]any{}}})
		grant := tok.body["rooms"].(map[string]any)["radio"].(map[string]any)
		if got := sourcesOf(grant["media_sources"]); !slices.Equal(got, []string{"camera"}) {
			t.Errorf("token for the member: media_sources %v, want the member's", got)
		}
		tok = a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey,
			map[string]any{"identity": "guest", "rooms": map[string]any{"radio": map[string]any{"media_sources": []string{"screen_audio"}}}})
		grant = tok.body["rooms"].(map[string]any)["radio"].(map[string]any)
		if got := sourcesOf(grant["media_sources"]); !slices.Equal(got, []string{"screen_audio"}) {
			t.Errorf("token media_sources %v", got)
		}
		if r := a.do("POST", "/api/v1/tokens", a.adminKey, `{"identity":"g","rooms":{"radio":{"media_sources":["x"]}}}`); r.status != http.StatusBadRequest || r.code() != codeInvalidToken {
			t.Errorf("bad token media_sources: %d %s", r.status, r.raw)
		}
	})
}

// policyOffer is a pion peer's offer sending one track per source, with
// their names for the room socket.
func policyOffer(t *testing.T, sources ...string) (*webrtc.PeerConnection, string, map[string]string) {
	t.Helper()
	pc := peertest.NewPeer(t, nil, webrtc.Configuration{})
	names := map[string]string{}
	for _, src := range sources {
		codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
		if src == "microphone" || src == "screen_audio" {
			codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
		}
		peertest.SendTrack(t, pc, codec, "t-"+src, "s")
		names["t-"+src] = src
	}
	return pc, peertest.Offer(t, pc), names
}

// socketPublish offers sources over c and returns the reply.
func socketPublish(t *testing.T, c *wsClient, id string, sources ...string) map[string]any {
	t.Helper()
	pc, offer, names := policyOffer(t, sources...)
	c.send(map[string]any{"type": "publish", "id": id, "sdp": offer, "sources": names})
	reply := c.next("answer", "error")
	if reply["type"] == "answer" {
		peertest.Accept(t, pc, reply["sdp"].(string))
	}
	return reply
}

// TestRoomMediaPolicyEnforced publishes from real pion peers over the room
// socket and WHIP into an audio-only room: the camera is refused naming it,
// the microphone goes on, the member override lets the host share a
// screen, and a PATCHed policy applies to the live room's next offers.
func TestRoomMediaPolicyEnforced(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		a := newTestAPI(t, b)
		a.createRoom(map[string]any{"id": "radio", "name": "Radio", "media": map[string]any{"preset": "audio_only"}})
		speaker := dialRoom(t, a, "radio", a.tokenFor("speaker", "radio", access.Speaker))
		if w := speaker.next("welcome"); !slices.Equal(sourcesOf(w["media"].(map[string]any)["sources"]), []string{"microphone"}) {
			t.Errorf("welcome media = %v, want the microphone", w["media"])
		}
		reply := socketPublish(t, speaker, "p1", "camera", "microphone")
		if reply["type"] != "error" || reply["code"] != codeMediaRefused || !strings.Contains(fmt.Sprint(reply["message"]), "does not take camera") {
			t.Errorf("camera offer: %v; want media_refused naming the camera", reply)
		}
		if reply := socketPublish(t, speaker, "p2", "microphone"); reply["type"] != "answer" {
			t.Errorf("microphone offer: %v", reply)
		}

		// WHIP: the publisher's video is its camera.
		pc, offer, _ := policyOffer(t, "camera", "microphone")
		defer pc.Close()
		status, _, body := httpDo(t, "POST", a.url+"/whip/radio", a.tokenFor("whip", "radio", access.Speaker), "application/sdp", offer)
		if status != http.StatusForbidden || !strings.Contains(body, codeMediaRefused) || !strings.Contains(body, "does not take camera") {
			t.Errorf("WHIP camera: %d %s; want 403 media_refused naming the camera", status, body)
		}

		// The override: the host may share a screen in a room that takes none.
		a.must(http.StatusCreated, "POST", "/api/v1/rooms/radio/members", a.adminKey,
			map[string]any{"identity": "host", "preset": "host", "media_sources": []string{"screen"}})
		tok := a.must(http.StatusCreated, "POST", "/api/v1/tokens", a.adminKey,
			map[string]any{"identity": "host", "rooms": map[string]any{"radio": map[string]any{}}}).str("token")
		host := dialRoom(t, a, "radio", tok)
		if w := host.next("welcome"); !slices.Equal(sourcesOf(w["media"].(map[string]any)["sources"]), []string{"microphone", "screen"}) {
			t.Errorf("host welcome media = %v", w["media"])
		}
		if reply := socketPublish(t, host, "h1", "screen"); reply["type"] != "answer" {
			t.Errorf("host screen offer: %v", reply)
		}
		if reply := socketPublish(t, host, "h2", "screen", "camera"); reply["code"] != codeMediaRefused {
			t.Errorf("host camera offer: %v; the override is only the screen", reply)
		}
		// A token asking for more than the member record allows is narrowed.
		wide := a.sign(access.Claims{Identity: "host", Name: "host", ExpiresAt: time.Now().Add(time.Hour),
			Rooms: map[string]access.Grant{"radio": {Permissions: access.Host, Sources: access.Camera | access.Screen}}})
		narrowed := dialRoom(t, a, "radio", wide)
		if w := narrowed.next("welcome"); !slices.Equal(sourcesOf(w["media"].(map[string]any)["sources"]), []string{"microphone", "screen"}) {
			t.Errorf("wide token welcome media = %v; want the member's override", w["media"])
		}

		// A PATCH reaches the live room: the speaker's next camera offer is taken.
		a.must(http.StatusOK, "PATCH", "/api/v1/rooms/radio", a.adminKey, map[string]any{"media": map[string]any{"preset": "everything"}})
		if reply := socketPublish(t, speaker, "p3", "camera", "microphone"); reply["type"] != "answer" {
			t.Errorf("camera after the policy opened: %v", reply)
		}
	})
}
