package api

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"lectern/access"
	"lectern/hls/hlstest"
	"lectern/storage/storagetest"
	"lectern/usage"
)

// getAs sends GET path with a user agent, as one HLS player.
func (a *testAPI) getAs(path, userAgent string) int {
	a.t.Helper()
	req, err := http.NewRequestWithContext(a.t.Context(), "GET", a.url+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("User-Agent", userAgent)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestWebinarViewersAttendance: a host publishes H.264 and Opus over the
// room websocket into a webinar broadcasting HLS; carol, with a viewer
// token, loads the multivariant playlist and reloads the media playlist for
// 2 minutes (on the tracker's clock) and asks two questions, one answered;
// another player reloads the media playlist for a minute without ever
// showing a token. The report lists carol as a viewer for 120 s with her
// questions, the other as an anonymous viewer for 60 s, the host as a
// participant; the month counts 3 viewer-minutes.
func TestWebinarViewersAttendance(t *testing.T) {
	clip := hlstest.NewClip(t, 320, 240, 2, "cam")
	sound := hlstest.NewSound(t, 2, 440)
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		a, tr, clk := newUsageAPI(t, b)
		t.Cleanup(a.srv.hls.Close)
		a.createRoom(map[string]any{"id": "talk", "name": "Talk", "mode": "webinar", "broadcast": map[string]any{"hls": true}})
		host := dialRoom(t, a, "talk", a.tokenFor("host", "talk", access.Host))
		host.next("welcome")
		hlstest.Publish(t, wsSignal(host), hlstest.Track{Source: "camera", Clip: clip}, hlstest.Track{Source: "microphone", Sound: sound})
		a.waitLive("talk")

		carol := a.sign(access.Claims{Identity: "carol", Name: "Carol C.", Rooms: map[string]access.Grant{"talk": {Permissions: access.Viewer | access.Send}},
			ExpiresAt: time.Now().Add(time.Hour)})
		const carolUA, otherUA = "hls.js test", "VLC test"
		req, err := http.NewRequestWithContext(t.Context(), "GET", a.url+"/hls/talk/index.m3u8?token="+carol, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", carolUA)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		_, _ = io.Copy(&body, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("multivariant: %d %s", res.StatusCode, body.String())
		}
		lines := strings.Split(strings.TrimSpace(body.String()), "\n")
		media := "/hls/talk/" + lines[len(lines)-1]

		viewStart := clk.Now()
		// Carol at +0, +1m and +2m; the other player at +0 and +1m.
		for i := range 3 {
			if s := a.getAs(media, carolUA); s != 200 {
				t.Fatalf("media playlist: %d", s)
			}
			if i < 2 {
				if s := a.getAs(media, otherUA); s != 200 {
					t.Fatalf("media playlist: %d", s)
				}
				clk.Advance(time.Minute)
			}
		}
		// Carol asks twice; the host answers one.
		q1 := a.must(201, "POST", "/api/v1/rooms/talk/messages", carol, map[string]any{"text": "Slides?"})
		a.must(201, "POST", "/api/v1/rooms/talk/messages", carol, map[string]any{"text": "Recording?"})
		if q1.str("kind") != "question" {
			t.Fatalf("a viewer's post: %s; want a question", q1.raw)
		}
		a.must(200, "PATCH", fmt.Sprintf("/api/v1/rooms/talk/messages/%v", q1.body["id"]), a.adminKey, map[string]any{"state": "answered"})
		if p, v := tr.Present("talk"); p != 1 || v != 2 {
			t.Fatalf("present: %d participants, %d viewers; want 1 and 2", p, v)
		}
		// Both stop; once idle for usage_viewer_idle they are gone.
		clk.Advance(usage.DefaultConfig().ViewerIdle)
		r := a.must(200, "GET", "/api/v1/rooms/talk/sessions", a.adminKey, nil)
		list := r.body["sessions"].([]any)
		if len(list) != 1 {
			t.Fatalf("sessions: %s", r.raw)
		}
		s := list[0].(map[string]any)
		if s["live"] != true || s["broadcast"] != true || s["peak_audience"] != 3.0 {
			t.Errorf("session: %s; want live, broadcast, peak audience 3", r.raw)
		}
		if p, v := tr.Present("talk"); p != 1 || v != 0 {
			t.Errorf("present after the viewers went idle: %d participants, %d viewers; want 1 and 0", p, v)
		}
		path := "/api/v1/rooms/talk/sessions/" + s["id"].(string) + "/attendance"
		rep := attendanceOf(t, a.must(200, "GET", path, a.adminKey, nil))
		c := findAttendee(t, rep, "carol", "viewer")
		if c.Name != "Carol C." || c.PresentSeconds != 120 || c.Present || c.Kinds[0] != "hls" || c.QuestionsAsked != 2 || c.QuestionsAnswered != 1 ||
			!c.FirstJoinedAt.Equal(viewStart.Truncate(time.Millisecond)) {
			t.Errorf("carol: %+v; want an HLS viewer for 120 s from %v who asked 2, 1 answered", c, viewStart)
		}
		var anon *usage.Attendee
		for i, at := range rep.Attendees {
			if strings.HasPrefix(at.Identity, "anonymous-") {
				anon = &rep.Attendees[i]
			}
		}
		if anon == nil || anon.Role != "viewer" || anon.PresentSeconds != 60 || strings.Contains(anon.Identity, "127.0.0.1") {
			t.Errorf("the other player: %+v; want an anonymous viewer for 60 s", anon)
		}
		if h := findAttendee(t, rep, "host", "participant"); !h.Present {
			t.Errorf("host: %+v; want present", h)
		}
		if rep.Viewers != 2 || rep.Participants != 1 || rep.QuestionsAsked != 2 || rep.QuestionsAnswered != 1 {
			t.Errorf("totals: %+v", rep.Session)
		}
		checkCSV(t, a, path, rep)

		u := a.must(200, "GET", "/api/v1/usage?month="+clk.Now().Format("2006-01"), a.adminKey, nil)
		if u.body["viewer_minutes"] != 3.0 || u.body["active_identities"] != 2.0 || u.body["peak_viewers"] != 2.0 || u.body["peak_concurrent"] != 3.0 {
			t.Errorf("usage: %s; want 3 viewer-minutes, host and carol active, peak 2 viewers and 3 in all", u.raw)
		}
		metrics := string(a.must(200, "GET", "/metrics", "", nil).raw)
		if !strings.Contains(metrics, `lectern_usage_present_seconds_total{app="default",role="viewer"} 180`) ||
			!strings.Contains(metrics, `lectern_usage_joins_total{app="default",role="viewer"} 2`) {
			t.Errorf("/metrics lacks the viewers' counters")
		}
	})
}
