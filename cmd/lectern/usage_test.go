package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"lectern/hls/hlstest"
	"lectern/storage/storagetest"
)

// getBody GETs url and returns the status and body.
func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestUsageOfABroadcast runs the real server: an RTSP encoder broadcasts a
// recorded webinar, a viewer with a token loads its HLS playlists, the
// encoder stops and the recording completes. The month's usage counts the
// recording's minutes and bytes and both identities; the room's session
// lists the encoder as a participant and the viewer as a viewer. After the
// server stops and starts again, the session has ended (the last flush on
// stop wrote it).
func TestUsageOfABroadcast(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		env := map[string]string{"LECTERN_DATA_DIR": b.DataDir, "LECTERN_DATABASE_URL": b.DatabaseURL}
		url, banner, stop := server(t, env)
		stopped := false
		defer func() {
			if !stopped {
				stop()
			}
		}()
		key := keyLine.FindStringSubmatch(banner)[1]
		rtspBase := rtspLine.FindStringSubmatch(banner)[1]
		if code, _ := call(t, "POST", url+"/api/v1/rooms", key, `{"id":"web","name":"Webinar","mode":"webinar","broadcast":{"hls":true,"record":true}}`); code != 201 {
			t.Fatalf("create room: %d", code)
		}
		_, tok := call(t, "POST", url+"/api/v1/tokens", key, `{"identity":"aud","name":"Audience","rooms":{"web":{"permissions":["subscribe","receive"]}}}`)
		_, sk := call(t, "POST", url+"/api/v1/rooms/web/stream-key", key, "")
		ctx, cancel := context.WithCancel(t.Context())
		target := strings.Replace(rtspBase, "rtsp://", "rtsp://encoder:"+sk["stream_key"].(string)+"@", 1) + "/web"
		startEncoder(t, ctx, target, 0)
		waitRecording(t, url, key, func(rec map[string]any) bool {
			return rec["status"] == "recording" && rec["duration_ms"].(float64) >= 3000
		})
		code, index := getBody(t, url+"/hls/web/index.m3u8?token="+tok["token"].(string))
		if code != 200 {
			t.Fatalf("index.m3u8: %d %s", code, index)
		}
		lines := strings.Split(strings.TrimSpace(index), "\n")
		media := url + "/hls/web/" + lines[len(lines)-1]
		for range 2 {
			if code, body := getBody(t, media); code != 200 {
				t.Fatalf("media playlist: %d %s", code, body)
			}
		}
		cancel()
		waitRecording(t, url, key, func(rec map[string]any) bool { return rec["status"] == "complete" })

		_, u := call(t, "GET", url+"/api/v1/usage", key, "")
		if u["recordings"] != 1.0 || u["recording_minutes"].(float64) < 0.05 || u["recording_bytes"].(float64) <= 0 ||
			u["recording_bytes_stored"] != u["recording_bytes"] || u["active_identities"] != 2.0 || u["participant_minutes"].(float64) <= 0 {
			t.Errorf("usage: %v; want the recording, 2 identities (encoder and viewer), participant minutes", u)
		}
		t.Logf("usage after a short broadcast: %v", u)
		stop()
		stopped = true

		url2, _, stop2 := server(t, env)
		defer stop2()
		_, list := call(t, "GET", url2+"/api/v1/rooms/web/sessions", key, "")
		sessions, _ := list["sessions"].([]any)
		if len(sessions) != 1 {
			t.Fatalf("sessions: %v", list)
		}
		s := sessions[0].(map[string]any)
		if s["live"] != false || s["ended_at"] == nil || s["broadcast"] != true || s["peak_audience"] != 2.0 {
			t.Errorf("session after a restart: %v; want ended, broadcast, peak audience 2", s)
		}
		_, a := call(t, "GET", url2+"/api/v1/rooms/web/sessions/"+s["id"].(string)+"/attendance", key, "")
		roles := map[string]string{}
		for _, at := range a["attendees"].([]any) {
			m := at.(map[string]any)
			roles[m["identity"].(string)] = m["role"].(string) + " " + jsonList(m["kinds"])
		}
		if roles["aud"] != "viewer [hls]" || len(roles) != 2 {
			t.Errorf("attendees: %v; want the encoder and aud, an HLS viewer", roles)
		}
		for id, r := range roles {
			if id != "aud" && r != "participant [encoder]" {
				t.Errorf("attendee %s is %q; want the RTSP encoder as a participant", id, r)
			}
		}
	})
}

// jsonList prints a decoded JSON list of strings as [a b].
func jsonList(v any) string {
	var parts []string
	for _, s := range v.([]any) {
		parts = append(parts, s.(string))
	}
	return "[" + strings.Join(parts, " ") + "]"
}
