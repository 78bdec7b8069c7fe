package interop

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// webrtcResult is what js/firefox.mjs reports of a whip-whep scenario.
type webrtcResult struct {
	WHIP, WHEP *exchange
	Sent       *struct {
		State         string
		FramesEncoded int
		Codec         string
		AudioPackets  int
	}
	Received *struct {
		State         string
		FramesDecoded int
		Codec         string
		AudioPackets  int
		CurrentTime   float64
		Width, Height int
	}
}

type exchange struct {
	Status   int
	Code     string
	Message  string
	Warning  string
	Offered  []string
	Answered []string
}

// needFirefox returns Firefox's absolute path.
func needFirefox(t *testing.T) string {
	t.Helper()
	needBin(t, firefoxBin)
	needNode(t, "puppeteer-core")
	p, _ := exec.LookPath(firefoxBin)
	return p
}

// TestFirefoxWebRTC: Firefox ESR publishes over WHIP and watches over WHEP
// from a page of its own (RTCPeerConnection and fetch). In a conference room
// its VP8 camera comes back over WHEP and decodes (75 frames). A broadcast
// room takes H.264 only, which Firefox encodes and decodes with the OpenH264
// plugin it downloads at run time (absent here). When its offer has no H.264,
// an offer with audio and video gets 201 with the video section rejected, a
// Lectern-Warning naming unsupported_codecs, and audio flowing; a video-only
// offer gets 415 unsupported_codecs. When the offer has H.264, video flows.
func TestFirefoxWebRTC(t *testing.T) {
	firefox := needFirefox(t)
	s, program := programRoom(t)
	conference := s.room(t, false)
	broadcast, broadcastVideo := s.room(t, true), s.room(t, true)
	results := runDriver(t, "firefox.mjs", map[string]any{
		"firefox": firefox, "origin": s.URL,
		"scenarios": []map[string]any{
			{"name": "conference", "kind": "whip-whep", "room": conference,
				"publishToken": s.token(t, conference, "ff-publisher", "member"),
				"viewToken":    s.token(t, conference, "ff-viewer", "viewer")},
			{"name": "broadcast-whip", "kind": "whip-whep", "room": broadcast,
				"publishToken": s.token(t, broadcast, "ff-publisher", "speaker")},
			{"name": "broadcast-whip-video-only", "kind": "whip-whep", "room": broadcastVideo, "audio": false,
				"publishToken": s.token(t, broadcastVideo, "ff-publisher", "speaker")},
			{"name": "broadcast-whep", "kind": "whip-whep", "room": program,
				"viewToken": s.token(t, program, "ff-viewer", "viewer")},
			{"name": "broadcast-whep-video-only", "kind": "whip-whep", "room": program, "audio": false,
				"viewToken": s.token(t, program, "ff-viewer", "viewer")},
		},
	}, 4*time.Minute)

	t.Run("conference", func(t *testing.T) {
		var r webrtcResult
		scenario(t, results, "conference", &r)
		if r.WHIP == nil || r.WHIP.Status != 201 || r.WHEP == nil || r.WHEP.Status != 201 {
			t.Fatalf("WHIP %+v, WHEP %+v: want 201 both", r.WHIP, r.WHEP)
		}
		if r.Received == nil || r.Received.FramesDecoded < 75 || r.Received.Width == 0 {
			t.Errorf("the WHEP viewer decoded %+v, want 75 frames of a picture", r.Received)
		}
		if r.Received != nil && r.Received.AudioPackets == 0 {
			t.Errorf("the WHEP viewer got no audio")
		}
	})
	for _, name := range []string{"broadcast-whip", "broadcast-whip-video-only", "broadcast-whep", "broadcast-whep-video-only"} {
		t.Run(name, func(t *testing.T) {
			var r webrtcResult
			scenario(t, results, name, &r)
			whip := strings.HasPrefix(name, "broadcast-whip")
			ex := r.WHEP
			if whip {
				ex = r.WHIP
			}
			if ex == nil {
				t.Fatal("no exchange reported")
			}
			videoOnly := strings.HasSuffix(name, "video-only")
			if !slices.Contains(ex.Offered, "H264") {
				// Firefox without OpenH264: what can be taken is, and the
				// client is told what was not; a clear refusal when nothing
				// is left. Never a 201 whose answer cannot connect.
				if videoOnly {
					if ex.Status != 415 || ex.Code != "unsupported_codecs" {
						t.Errorf("a video offer without H.264 (%v) got %d %q %q, want 415 unsupported_codecs", ex.Offered, ex.Status, ex.Code, ex.Message)
					}
					return
				}
				if ex.Status != 201 || !strings.HasPrefix(ex.Warning, "unsupported_codecs") {
					t.Errorf("an offer without H.264 (%v) got %d, Lectern-Warning %q: want 201 and unsupported_codecs", ex.Offered, ex.Status, ex.Warning)
				}
				if whip && (r.Sent == nil || r.Sent.State != "connected" || r.Sent.AudioPackets < 100) {
					t.Errorf("the WHIP publisher's audio: %+v, want connected and 100 packets sent", r.Sent)
				}
				if !whip && (r.Received == nil || r.Received.State != "connected" || r.Received.AudioPackets < 100) {
					t.Errorf("the WHEP viewer's audio: %+v, want connected and 100 packets received", r.Received)
				}
				return
			}
			if ex.Status != 201 {
				t.Fatalf("an offer with H.264 got %d %s", ex.Status, ex.Code)
			}
			if whip && (r.Sent == nil || r.Sent.State != "connected" || r.Sent.FramesEncoded < 75) {
				t.Errorf("the WHIP publisher: %+v, want connected with 75 frames sent", r.Sent)
			}
			if !whip && (r.Received == nil || r.Received.FramesDecoded < 75) {
				t.Errorf("the WHEP viewer decoded %+v, want 75 frames", r.Received)
			}
		})
	}
}

// TestFirefoxPages: Firefox ESR on the product's pages. Two people join a
// conference room through the join page with its PIN and each plays the
// other's camera (3 s, 40 frames); a viewer with a token plays the
// broadcast on the watch page (hls.js over MSE; 3 s, 60 frames).
func TestFirefoxPages(t *testing.T) {
	firefox := needFirefox(t)
	s, program := programRoom(t)
	conference := s.room(t, false)
	pin, _ := s.api(t, "GET", "/rooms/"+conference, nil, 200)["pin"].(string)
	results := runDriver(t, "firefox.mjs", map[string]any{
		"firefox": firefox, "origin": s.URL,
		"scenarios": []map[string]any{
			{"name": "room-page", "kind": "room-page", "room": conference, "pin": pin},
			{"name": "watch-page", "kind": "watch-page", "room": program, "token": s.token(t, program, "ff-watch", "viewer")},
		},
	}, 3*time.Minute)

	t.Run("room-page", func(t *testing.T) {
		var r map[string]struct {
			playback
			Errors []string
		}
		scenario(t, results, "room-page", &r)
		for _, who := range []string{"Ada", "Bob"} {
			if played, frames := r[who].played(); played < 3 || frames < 40 {
				t.Errorf("%s played %.1f s and %d frames of the other's camera, want 3 s and 40", who, played, frames)
			}
			if len(r[who].Errors) > 0 {
				t.Errorf("%s's page threw: %v", who, r[who].Errors)
			}
		}
	})
	t.Run("watch-page", func(t *testing.T) {
		var r struct {
			playback
			Errors []string
		}
		scenario(t, results, "watch-page", &r)
		if played, frames := r.played(); played < 3 || frames < 60 {
			t.Errorf("the watch page played %.1f s and %d frames, want 3 s and 60", played, frames)
		}
		if len(r.Errors) > 0 {
			t.Errorf("the watch page threw: %v", r.Errors)
		}
	})
}
