package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"lectern/internal/peertest"
	"lectern/storage"
	"lectern/storage/storagetest"
)

// appsClient calls a server's HTTP API.
type appsClient struct {
	t   *testing.T
	url string
}

// do sends a request and returns the status, the error code and the body.
func (a appsClient) do(method, path, auth, ctype, body string) (int, string, map[string]any) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
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
	var m map[string]any
	json.Unmarshal(data, &m)
	code, _ := m["code"].(string)
	if res.StatusCode == http.StatusCreated && m == nil {
		m = map[string]any{"location": res.Header.Get("Location")}
	}
	return res.StatusCode, code, m
}

// must sends a JSON request and fails the test unless the status is want.
func (a appsClient) must(want int, method, path, auth, body string) map[string]any {
	a.t.Helper()
	status, _, m := a.do(method, path, auth, "application/json", body)
	if status != want {
		a.t.Fatalf("%s %s: %d %v, want %d", method, path, status, m, want)
	}
	return m
}

// appFixture is what one app holds in the suite: its admin key, its rooms
// (one named alike in every app, one its own), and for each room a host
// token, a stream key, the PIN and a recording.
type appFixture struct {
	id, key string
	own     string // the room only this app has
	token   map[string]string
	stream  map[string]string
	pin     map[string]string
	rec     map[string]string
}

// sfuOffer makes a real pion offer: sending video (WHIP) or receiving it (WHEP).
func sfuOffer(t *testing.T, dir webrtc.RTPTransceiverDirection) string {
	t.Helper()
	pc := peertest.NewPeer(t, peertest.NewAPI(t, peertest.Options{}), webrtc.Configuration{})
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: dir}); err != nil {
		t.Fatal(err)
	}
	return peertest.Offer(t, pc)
}

// TestAppsCrossAppNotFound is the apps matrix (docs/security.md "Apps"):
// three apps (the default one, whose admin is the operator key, and alpha
// and beta) each have a room "standup" and a room of their own; every
// credential of each app (admin key, host token, stream key, PIN) is sent
// to every other app's rooms over REST, the room, chat and stage websockets, WHIP,
// WHEP, RTSP (DESCRIBE and ANNOUNCE), the HLS playlist and recordings, and
// gets not found. Each credential works on its own app's rooms (the
// controls), so a 404 is the app boundary, not a broken route.
func TestAppsCrossAppNotFound(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		env := map[string]string{"LECTERN_DATA_DIR": b.DataDir, "LECTERN_DATABASE_URL": b.DatabaseURL,
			"LECTERN_KEY_FAILURES_PER_ADDR": "100000"}
		url, banner, stop := server(t, env)
		defer stop()
		operator := keyLine.FindStringSubmatch(banner)[1]
		rtspBase := rtspLine.FindStringSubmatch(banner)[1]
		c := appsClient{t: t, url: url}

		db, err := storage.Open(t.Context(), b.DatabaseURL, b.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()

		apps := []*appFixture{{id: "default", key: operator}, {id: "alpha"}, {id: "beta"}}
		for _, a := range apps {
			if a.id != "default" {
				c.must(201, "POST", "/api/v1/apps", operator, `{"id":"`+a.id+`","name":"App `+a.id+`"}`)
				a.key, _ = c.must(201, "POST", "/api/v1/apps/"+a.id+"/keys", operator, `{"name":"admin"}`)["key"].(string)
			}
			a.own = "only-" + a.id
			a.token, a.stream, a.pin, a.rec = map[string]string{}, map[string]string{}, map[string]string{}, map[string]string{}
			for _, room := range []string{"standup", a.own} {
				// No 409 across apps: every app makes its "standup".
				r := c.must(201, "POST", "/api/v1/rooms", a.key, `{"id":"`+room+`","name":"`+a.id+` `+room+`","mode":"webinar"}`)
				if r["id"] != room || r["app"] != a.id {
					t.Fatalf("room made by %s's key: %v", a.id, r)
				}
				a.pin[room], _ = r["pin"].(string)
				a.stream[room], _ = c.must(201, "POST", "/api/v1/rooms/"+room+"/stream-key", a.key, "")["stream_key"].(string)
				a.token[room], _ = c.must(201, "POST", "/api/v1/tokens", a.key,
					`{"identity":"host-`+a.id+`","rooms":{"`+room+`":{"preset":"host"}}}`)["token"].(string)
				// Publish only: a DESCRIBE it makes is refused (403) once
				// through the gate, where a reader would wait for video.
				a.token["pub-"+room], _ = c.must(201, "POST", "/api/v1/tokens", a.key,
					`{"identity":"pub-`+a.id+`","rooms":{"`+room+`":{"permissions":["publish"]}}}`)["token"].(string)
				rec, err := db.CreateRecording(t.Context(), storage.Recording{ID: "rec-" + a.id + "-" + room,
					RoomID: storage.RoomKey(a.id, room), Status: storage.RecordingComplete, StartedAt: time.Now()})
				if err != nil {
					t.Fatal(err)
				}
				a.rec[room] = rec.ID
			}
		}

		// Each app's key lists its own rooms, by their IDs.
		for _, a := range apps {
			list := c.must(200, "GET", "/api/v1/rooms", a.key, "")["rooms"].([]any)
			var ids []string
			for _, r := range list {
				ids = append(ids, r.(map[string]any)["id"].(string))
			}
			if strings.Join(ids, ",") != "standup,"+a.own {
				t.Errorf("rooms of %s: %v, want standup and %s", a.id, ids, a.own)
			}
		}

		whip := sfuOffer(t, webrtc.RTPTransceiverDirectionSendonly)
		whep := sfuOffer(t, webrtc.RTPTransceiverDirectionRecvonly)
		basic := func(pass string) string {
			return "Basic " + base64.StdEncoding.EncodeToString([]byte("encoder:"+pass))
		}
		dial := func(path string) int {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			conn, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+path, nil)
			if err == nil {
				conn.Close(websocket.StatusNormalClosure, "")
				return 101
			}
			if res == nil {
				t.Fatalf("dial %s: %v", path, err)
			}
			return res.StatusCode
		}
		// endSession ends a WHIP or WHEP session a control made.
		endSession := func(m map[string]any, auth string) {
			if loc, _ := m["location"].(string); loc != "" {
				c.do("DELETE", loc, auth, "", "")
			}
		}

		// check asks everything of room (a name, or a key as the server's
		// URLs carry) with the credentials of app a; want404 says the room
		// is another app's.
		crossApp, controls := 0, 0
		check := func(a *appFixture, room, asRoom string, want404 bool, label string) {
			t.Helper()
			tok, sk, pin, rec := a.token[asRoom], a.stream[asRoom], a.pin[asRoom], a.rec[asRoom]
			expect := func(what string, got, control int) {
				t.Helper()
				if want404 {
					crossApp++
				} else {
					controls++
				}
				if want404 && got != 404 {
					t.Errorf("%s: %s with %s's credential: %d, want 404", label, what, a.id, got)
				}
				if !want404 && got != control {
					t.Errorf("%s (control): %s with %s's credential: %d, want %d", label, what, a.id, got, control)
				}
			}
			rest := []struct {
				method, path, body string
				control            int
			}{
				{"GET", "", "", 200},
				{"PATCH", "", `{"locked":false}`, 200},
				{"GET", "/members", "", 200},
				{"POST", "/members", `{"identity":"m-{cred}","preset":"member"}`, 201},
				{"GET", "/messages", "", 200},
				{"GET", "/chat", "", 200},
				{"GET", "/stream-key", "", 200},
				{"GET", "/broadcast", "", 200},
				{"GET", "/recordings", "", 200},
				{"GET", "/recordings/" + rec, "", 200},
				{"GET", "/participants", "", 200},
				{"GET", "/stage", "", 200},
				{"GET", "/chat/mutes", "", 200},
				{"PUT", "/bans/nobody", `{"seconds":60}`, 200},
			}
			for _, r := range rest {
				for cred, auth := range map[string]string{"admin-key": a.key, "host-token": tok} {
					body := strings.ReplaceAll(r.body, "{cred}", cred)
					got, _, _ := c.do(r.method, "/api/v1/rooms/"+room+r.path, auth, "application/json", body)
					expect("REST "+r.method+" "+r.path+" as "+cred, got, r.control)
				}
			}
			got, _, _ := c.do("DELETE", "/api/v1/rooms/"+room+"/identities/nobody/tokens", a.key, "", "")
			expect("REST DELETE /identities/nobody/tokens as admin-key", got, 204)
			got, _, _ = c.do("POST", "/api/v1/tokens", a.key, "application/json", `{"identity":"x","rooms":{"`+room+`":{"preset":"viewer"}}}`)
			expect("minting a token", got, 201)
			got, _, _ = c.do("POST", "/api/v1/rooms/"+room+"/join?app="+a.id, "", "application/json", `{"pin":"`+pin+`","name":"Guest"}`)
			expect("PIN join with ?app", got, 200)
			expect("room websocket", dial("/api/v1/rooms/"+room+"/ws?token="+tok), 101)
			expect("chat websocket", dial("/api/v1/rooms/"+room+"/chat/ws?token="+tok), 101)
			expect("stage websocket", dial("/api/v1/rooms/"+room+"/stage/ws?token="+tok), 101)
			got, _, m := c.do("POST", "/whip/"+room, tok, "application/sdp", whip)
			endSession(m, tok)
			expect("WHIP with a token", got, 201)
			got, _, m = c.do("POST", "/whip/"+room, sk, "application/sdp", whip)
			endSession(m, sk)
			expect("WHIP with a stream key", got, 201)
			got, _, m = c.do("POST", "/whep/"+room, tok, "application/sdp", whep)
			endSession(m, tok)
			expect("WHEP", got, 201)
			// HLS is off in these rooms: a viewer who gets through hears
			// broadcast_offline, 404 too, so the code tells them apart.
			got, code, _ := c.do("GET", "/hls/"+room+"/index.m3u8?token="+tok, "", "", "")
			if want404 && code != "room_not_found" || !want404 && code != "broadcast_offline" {
				t.Errorf("%s: HLS playlist with %s's token: %d %s", label, a.id, got, code)
			}
			// Nothing is published: a reader who gets through hears 404 too,
			// so DESCRIBE is checked with publish-only rights below instead.
			// RTSP paths take room IDs only: a key ("<app>~<id>") is
			// refused as a malformed path (400) before anything is looked up.
			rtsp := func(what string, got, control int) {
				t.Helper()
				if strings.Contains(room, "~") {
					crossApp++
					if got != 400 {
						t.Errorf("%s: %s with a room key in the path: %d, want 400", label, what, got)
					}
					return
				}
				expect(what, got, control)
			}
			rtsp("RTSP ANNOUNCE with a token", rtspAsk(t, rtspBase, "ANNOUNCE", room, "?token="+tok, "", announceSDP), 200)
			rtsp("RTSP DESCRIBE with a token", rtspAsk(t, rtspBase, "DESCRIBE", room, "?token="+a.token["pub-"+asRoom], "", ""), 403)
			rtsp("RTSP ANNOUNCE with a stream key", rtspAsk(t, rtspBase, "ANNOUNCE", room, "", basic(sk), announceSDP), 200)
			rtsp("RTSP DESCRIBE with a stream key", rtspAsk(t, rtspBase, "DESCRIBE", room, "", basic(sk), ""), 403)
		}

		for _, a := range apps {
			for _, v := range apps {
				if v == a {
					check(a, a.own, a.own, false, a.id+" on its own room")
					continue
				}
				label := a.id + " on " + v.id + "'s " + v.own
				// v's own room by its ID: a has no such room.
				check(a, v.own, "standup", true, label)
				// v's rooms by their keys, as v's URLs carry them.
				if v.id != "default" {
					check(a, v.id+"~"+v.own, "standup", true, label+" by key")
					check(a, v.id+"~standup", "standup", true, a.id+" on "+v.id+"'s standup by key")
				}
			}
		}

		t.Logf("%d cross-app requests (404; 400 for a room key in an RTSP path); %d controls on the credentials' own rooms", crossApp, controls)

		// The same name reaches each credential's own room: a member made
		// in alpha's standup is not in beta's, nor a recording.
		alpha, beta := apps[1], apps[2]
		c.must(201, "POST", "/api/v1/rooms/standup/members", alpha.key, `{"identity":"only-in-alpha","preset":"member"}`)
		if got, code, _ := c.do("GET", "/api/v1/rooms/standup/members/only-in-alpha", beta.key, "", ""); got != 404 || code != "member_not_found" {
			t.Errorf("beta reads alpha's member through its own standup: %d %s", got, code)
		}
		if got, _, _ := c.do("GET", "/api/v1/rooms/standup/recordings/"+alpha.rec["standup"], beta.key, "", ""); got != 404 {
			t.Errorf("beta reads alpha's recording through its own standup: %d", got)
		}
		// A PIN of beta's standup opens nothing in alpha's.
		if got, code, _ := c.do("POST", "/api/v1/rooms/standup/join?app=alpha", "", "application/json",
			`{"pin":"`+beta.pin["standup"]+`","name":"Guest"}`); got != 403 || code != "wrong_pin" {
			t.Errorf("beta's PIN in alpha's standup: %d %s, want 403 wrong_pin", got, code)
		}
		// Recording playback: alpha's signed URL names its recording; moved
		// to beta's room and recording it opens nothing.
		m := c.must(200, "GET", "/api/v1/rooms/standup/recordings/"+alpha.rec["standup"], alpha.key, "")
		play, _ := m["playback_url"].(string)
		if play == "" {
			t.Fatalf("alpha's complete recording has no playback URL: %v", m)
		}
		if !strings.Contains(play, "/recordings/alpha~standup/") {
			t.Errorf("alpha's playback URL %s does not carry its room's key", play)
		}
		forged := strings.Replace(strings.Replace(play, "alpha~standup", "beta~standup", 1), alpha.rec["standup"], beta.rec["standup"], 1)
		if got, _, _ := c.do("GET", strings.TrimPrefix(forged, url), "", "", ""); got != 403 && got != 404 {
			t.Errorf("alpha's playback session on beta's recording: %d, want refused", got)
		}
		// An app's key manages no apps.
		if got, code, _ := c.do("GET", "/api/v1/apps", alpha.key, "", ""); got != 403 || code != "operator_required" {
			t.Errorf("alpha's key lists apps: %d %s", got, code)
		}
		if got, _, m := c.do("GET", "/api/v1/app", alpha.key, "", ""); got != 200 || m["operator"] != false {
			t.Errorf("alpha's key asks its app: %d %v", got, m)
		}
	})
}
