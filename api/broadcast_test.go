package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"lectern/access"
	"lectern/hls/hlstest"
	"lectern/storage/storagetest"
)

// wsSignal publishes over the room websocket.
func wsSignal(c *wsClient) hlstest.Signal {
	return func(offer string, sources map[string]string) (string, error) {
		c.send(map[string]any{"type": "publish", "id": "pub", "sdp": offer, "sources": sources})
		m := c.next("answer", "error")
		if m["type"] != "answer" {
			return "", fmt.Errorf("publish: %v", m)
		}
		return m["sdp"].(string), nil
	}
}

// newBroadcastAPI is the test API with a webinar room broadcasting over HLS.
func newBroadcastAPI(t *testing.T, room string) *testAPI {
	t.Helper()
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	t.Cleanup(a.srv.hls.Close)
	a.createRoom(map[string]any{"id": room, "name": "Broadcast", "mode": "webinar", "broadcast": map[string]any{"hls": true}})
	return a
}

// waitLive waits for the room's first complete HLS segment.
func (a *testAPI) waitLive(room string) {
	a.t.Helper()
	// A deadline, not a figure: on a quiet machine a room goes live in a few
	// seconds, but under CI's load with -race a failover test once took
	// more than 20 s (the publisher's connection, a keyframe, the first
	// segment, each slowed several times).
	ctx, cancel := context.WithTimeout(a.t.Context(), 45*time.Second)
	defer cancel()
	if err := a.srv.hls.WaitLive(ctx, room); err != nil {
		a.t.Fatalf("room %s did not go live: %v", room, err)
	}
}

// TestHLSFromWebsocketPublisher: a host publishing H.264 and Opus over the
// room websocket is on air in a webinar room; a viewer's token opens
// /hls/{room}/index.m3u8, where ffprobe finds H.264 at the published size and
// Opus and ffmpeg decodes 5 s. Without a token: 401; before anyone is on air: 404.
func TestHLSFromWebsocketPublisher(t *testing.T) {
	clip := hlstest.NewClip(t, 640, 360, 4, "cam")
	sound := hlstest.NewSound(t, 4, 440)
	a := newBroadcastAPI(t, "web")
	viewer := a.tokenFor("viewer", "web", access.Viewer)
	index := "/hls/web/index.m3u8"

	if r := a.do("GET", index, "", nil); r.status != http.StatusUnauthorized || r.code() != codeUnauthorized {
		t.Errorf("no token: %d %s", r.status, r.raw)
	}
	if r := a.do("GET", index+"?token=not.a.token", "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("bad token: %d %s", r.status, r.raw)
	}
	if r := a.do("GET", index, a.tokenFor("x", "web", access.Receive), nil); r.status != http.StatusForbidden {
		t.Errorf("token without subscribe: %d %s", r.status, r.raw)
	}
	if r := a.do("GET", index+"?token="+viewer, "", nil); r.status != http.StatusNotFound || r.code() != codeBroadcastOffline || !strings.Contains(r.str("message"), "nothing is on air") {
		t.Errorf("offline room: %d %s", r.status, r.raw)
	}

	host := dialRoom(t, a, "web", a.tokenFor("host", "web", access.Host))
	host.next("welcome")
	hlstest.Publish(t, wsSignal(host), hlstest.Track{Source: "camera", Clip: clip}, hlstest.Track{Source: "microphone", Sound: sound})
	a.waitLive("web")

	url := a.url + index + "?token=" + viewer
	var video, audio bool
	for _, s := range hlstest.Probe(t, url) {
		video = video || s.CodecName == "h264" && s.Width == 640 && s.Height == 360
		audio = audio || s.CodecName == "opus"
	}
	if !video || !audio {
		t.Fatalf("ffprobe did not find h264 640x360 and opus at %s", index)
	}
	if stderr, err := hlstest.Decode(t, url, 5); err != nil || strings.TrimSpace(stderr) != "" {
		t.Fatalf("ffmpeg decoding 5 s: %v\n%s", err, stderr)
	}

	// The media playlist is LL-HLS; a blocking reload for the next part
	// returns once that part exists.
	r := a.must(http.StatusOK, "GET", index+"?token="+viewer, "", nil)
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("multivariant Cache-Control %q: it carries a session", cc)
	}
	lines := strings.Split(strings.TrimSpace(string(r.raw)), "\n")
	media := "/hls/web/" + lines[len(lines)-1]
	r = a.must(http.StatusOK, "GET", media, "", nil)
	pl, err := hlstest.ParseMedia(r.raw)
	if err != nil {
		t.Fatal(err)
	}
	if bad := pl.CheckLowLatency(); len(bad) > 0 {
		t.Fatalf("%v\n%s", bad, r.raw)
	}
	msn, part := pl.NextPart()
	start := time.Now()
	r = a.must(http.StatusOK, "GET", fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", media, msn, part), "", nil)
	next, err := hlstest.ParseMedia(r.raw)
	if err != nil {
		t.Fatal(err)
	}
	if m, p := next.NextPart(); !(m == msn && p == part+1 || m == msn+1 && p <= 1) || time.Since(start) > 2*time.Second {
		t.Errorf("blocking for %d.%d returned a playlist ending before %d.%d after %v", msn, part, m, p, time.Since(start))
	}
	if r := a.do("GET", media+"?_HLS_part=1", "", nil); r.status != http.StatusBadRequest || r.code() != codeHLSRequest {
		t.Errorf("_HLS_part without _HLS_msn: %d %s", r.status, r.raw)
	}
	forged := strings.Replace(media, "/web/", "/web/A", 1)
	if r := a.do("GET", forged, "", nil); r.status != http.StatusForbidden || r.code() != codeHLSSession {
		t.Errorf("forged session: %d %s", r.status, r.raw)
	}
}

// TestBroadcastControl drives /rooms/{room}/broadcast and the websocket's
// on_air message: HLS and record settings, what is on air, and who may.
func TestBroadcastControl(t *testing.T) {
	camera := hlstest.NewClip(t, 640, 360, 2, "cam")
	screen := hlstest.NewClip(t, 1280, 720, 2, "screen")
	sound := hlstest.NewSound(t, 2, 440)
	a := newBroadcastAPI(t, "ctl")
	path := "/api/v1/rooms/ctl/broadcast"
	hostToken := a.tokenFor("host", "ctl", access.Host)

	r := a.must(http.StatusOK, "GET", path, a.adminKey, nil)
	if r.body["hls"] != true || r.body["record"] != false || r.body["status"].(map[string]any)["state"] != "offline" {
		t.Errorf("broadcast before anyone publishes: %s", r.raw)
	}
	if r := a.do("GET", path, a.tokenFor("v", "ctl", access.Viewer), nil); r.status != http.StatusForbidden {
		t.Errorf("viewer: %d %s", r.status, r.raw)
	}
	r = a.must(http.StatusOK, "PATCH", path, hostToken, map[string]any{"record": true})
	if r.body["record"] != true || a.must(http.StatusOK, "GET", "/api/v1/rooms/ctl", a.adminKey, nil).body["broadcast"].(map[string]any)["record"] != true {
		t.Errorf("record was not stored: %s", r.raw)
	}

	host := dialRoom(t, a, "ctl", hostToken)
	host.next("welcome")
	hlstest.Publish(t, wsSignal(host), hlstest.Track{Source: "camera", Clip: camera},
		hlstest.Track{Source: "screen", Clip: screen}, hlstest.Track{Source: "microphone", Sound: sound})
	a.waitLive("ctl")
	ids := map[string]string{}
	for ids["screen"] == "" || ids["camera"] == "" || ids["microphone"] == "" {
		m := host.next("track_published")
		tr := m["track"].(map[string]any)
		ids[tr["source"].(string)] = tr["id"].(string)
	}
	status := func(r response) map[string]any { return r.body["status"].(map[string]any) }
	r = a.must(http.StatusOK, "GET", path, hostToken, nil)
	if st := status(r); st["state"] != "live" || st["video"] != ids["camera"] || st["audio"] != ids["microphone"] ||
		len(st["renditions"].([]any)) != 1 || st["renditions"].([]any)[0].(map[string]any)["resolution"] != "640x360" {
		t.Errorf("live broadcast: %s", r.raw)
	}

	r = a.must(http.StatusOK, "PATCH", path, hostToken, map[string]any{"on_air": map[string]any{"video": ids["screen"]}})
	if r.body["on_air"].(map[string]any)["video"] != ids["screen"] || status(r)["video"] != ids["screen"] {
		t.Errorf("screen on air: %s", r.raw)
	}
	for _, c := range []struct {
		body   any
		status int
		code   string
	}{
		{map[string]any{"on_air": map[string]any{"video": ids["microphone"]}}, 400, codeInvalidOnAir},
		{map[string]any{"on_air": map[string]any{"audio": ids["camera"]}}, 400, codeInvalidOnAir},
		{map[string]any{"on_air": map[string]any{"video": "TR_nope"}}, 404, codeTrackNotFound},
		{map[string]any{"on_air": map[string]any{"video": 5}}, 400, codeInvalidJSON},
		{map[string]any{"on_air": map[string]any{"camera": "x"}}, 400, codeInvalidJSON},
	} {
		if r := a.do("PATCH", path, hostToken, c.body); r.status != c.status || r.code() != c.code {
			t.Errorf("%v: %d %s, want %d %s", c.body, r.status, r.raw, c.status, c.code)
		}
	}

	// The websocket message: null puts the automatic choice (the camera) back.
	host.send(map[string]any{"type": "on_air", "id": "oa", "video": nil, "follow_speaker": true})
	if m := host.reply("oa"); m["type"] != "ok" {
		t.Fatalf("on_air: %v", m)
	}
	r = a.must(http.StatusOK, "GET", path, hostToken, nil)
	if oa := r.body["on_air"].(map[string]any); oa["video"] != nil || oa["follow_speaker"] != true || status(r)["video"] != ids["camera"] {
		t.Errorf("after on_air video null: %s", r.raw)
	}
	member := dialRoom(t, a, "ctl", a.tokenFor("m", "ctl", access.Speaker))
	member.next("welcome")
	member.send(map[string]any{"type": "on_air", "id": "x", "video": ids["screen"]})
	if m := member.reply("x"); m["code"] != codePermissionDenied {
		t.Errorf("on_air from a speaker without moderate: %v", m)
	}
	host.send(map[string]any{"type": "on_air", "id": "y"})
	if m := host.reply("y"); m["code"] != codeInvalidMessage {
		t.Errorf("on_air naming nothing: %v", m)
	}

	r = a.must(http.StatusOK, "PATCH", path, a.adminKey, map[string]any{"hls": false})
	if r.body["hls"] != false || status(r)["state"] != "offline" {
		t.Errorf("hls off: %s", r.raw)
	}
	if r := a.do("GET", "/hls/ctl/index.m3u8?token="+hostToken, "", nil); r.status != 404 || r.code() != codeBroadcastOffline {
		t.Errorf("index.m3u8 with HLS off: %d %s", r.status, r.raw)
	}
}

func FuzzBroadcastBody(f *testing.F) {
	fuzzBodies(f, "PATCH", "/api/v1/rooms/fz/broadcast",
		`{"hls":true}`, `{"record":true,"hls":false}`, `{"on_air":{"video":null,"follow_speaker":true}}`,
		`{"on_air":{"video":"TR_x"}}`, `{"on_air":{"audio":5}}`, `{"on_air":{"video":""}}`, `{"on_air":null}`, `{"x":1}`)
}

// TestOnAirMessage decodes the websocket's on_air message: absent, null and
// set tracks are told apart, and it must name something.
func TestOnAirMessage(t *testing.T) {
	for _, c := range []struct {
		msg          string
		ok           bool
		video, audio trackChoice
	}{
		{`{"type":"on_air","video":"TR_1"}`, true, trackChoice{true, "TR_1"}, trackChoice{}},
		{`{"type":"on_air","video":null,"audio":"TR_2"}`, true, trackChoice{true, ""}, trackChoice{true, "TR_2"}},
		{`{"type":"on_air","follow_speaker":false}`, true, trackChoice{}, trackChoice{}},
		{`{"type":"on_air"}`, false, trackChoice{}, trackChoice{}},
		{`{"type":"on_air","video":""}`, false, trackChoice{}, trackChoice{}},
		{`{"type":"on_air","video":3}`, false, trackChoice{}, trackChoice{}},
	} {
		m, err := decodeClientMessage([]byte(c.msg))
		if (err == nil) != c.ok || c.ok && (m.Video != c.video || m.Audio != c.audio) {
			t.Errorf("%s: %+v %+v, %v", c.msg, m.Video, m.Audio, err)
		}
	}
}
