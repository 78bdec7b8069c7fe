package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"lectern/hls/hlstest"
	"lectern/storage"
	"lectern/storage/storagetest"
	"lectern/webhook"
)

const hookSecret = "webhook-test-secret-0123456789"

// hookReceiver is an integrator's endpoint: it verifies signatures and
// keeps each event once, in arrival order; while down it answers 503.
type hookReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	down   bool
	events []webhook.Event
	seen   map[string]int
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{t: t, seen: map[string]int{}, down: true}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if err := webhook.Verify([]byte(hookSecret), body, req.Header.Get(webhook.SignatureHeader), time.Now(), webhook.DefaultTolerance); err != nil {
			t.Errorf("receiver: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev webhook.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("receiver: %v: %s", err, body)
			return
		}
		if r.seen[ev.ID]++; r.seen[ev.ID] == 1 {
			r.events = append(r.events, ev)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) setDown(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

// types returns the types of the room's events, in arrival order.
func (r *hookReceiver) types(room string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		if ev.Room == room {
			out = append(out, ev.Type)
		}
	}
	return out
}

func (r *hookReceiver) event(typ string) (webhook.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.events {
		if ev.Type == typ {
			return ev, true
		}
	}
	return webhook.Event{}, false
}

// TestWebhooksScriptedSession: a chat question, then an encoder publishes
// over RTSP into a room that broadcasts and records, and stops; all the
// while the receiver is down. The server restarts, the receiver comes back,
// and it gets every event of the session, signed, each once, in the room's
// order, with the recording's playback URL.
func TestWebhooksScriptedSession(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		r := newHookReceiver(t)
		env := map[string]string{"LECTERN_DATA_DIR": b.DataDir, "LECTERN_DATABASE_URL": b.DatabaseURL,
			"LECTERN_WEBHOOK_URL": r.srv.URL + "/hooks", "LECTERN_WEBHOOK_SECRET": hookSecret}
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
		_, tok := call(t, "POST", url+"/api/v1/tokens", key, `{"identity":"aud","name":"Audience","rooms":{"web":{"permissions":["subscribe","send","receive"]}}}`)
		if code, m := call(t, "POST", url+"/api/v1/rooms/web/messages", tok["token"].(string), `{"text":"when is the break?"}`); code != 201 {
			t.Fatalf("question: %d %v", code, m)
		}
		_, sk := call(t, "POST", url+"/api/v1/rooms/web/stream-key", key, "")
		ctx, cancel := context.WithCancel(t.Context())
		target := strings.Replace(rtspBase, "rtsp://", "rtsp://encoder:"+sk["stream_key"].(string)+"@", 1) + "/web"
		startEncoder(t, ctx, target, 0)
		waitRecording(t, url, key, func(rec map[string]any) bool {
			return rec["status"] == "recording" && rec["duration_ms"].(float64) >= 3000
		})
		cancel() // the encoder goes away: tracks, participant, room, broadcast and recording end
		waitRecording(t, url, key, func(rec map[string]any) bool { return rec["status"] == "complete" })
		if got := r.types("web"); len(got) != 0 {
			t.Fatalf("a down receiver got %v", got)
		}
		stop()
		stopped = true

		// Restart; the receiver comes back.
		url2, _, stop2 := server(t, env)
		defer stop2()
		r.setDown(false)
		want := []string{webhook.ChatQuestion, webhook.RoomStarted, webhook.ParticipantJoined, webhook.TrackPublished,
			webhook.BroadcastLive, webhook.RecordingStarted, webhook.TrackUnpublished, webhook.ParticipantLeft,
			webhook.BroadcastOffline, webhook.RoomFinished, webhook.RecordingFinished}
		deadline := time.Now().Add(60 * time.Second)
		for {
			got := r.types("web")
			missing := slices.DeleteFunc(slices.Clone(want), func(typ string) bool { return slices.Contains(got, typ) })
			if len(missing) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("events %v; missing %v", got, missing)
			}
			time.Sleep(100 * time.Millisecond) // another component's pace: the dispatcher's backoff
		}
		got := r.types("web")
		t.Logf("events: %v", got)
		// Orders that hold whatever the timing: each pair's first comes first.
		for _, pair := range [][2]string{
			{webhook.RoomStarted, webhook.ParticipantJoined}, {webhook.ParticipantJoined, webhook.TrackPublished},
			{webhook.TrackPublished, webhook.TrackUnpublished}, {webhook.TrackUnpublished, webhook.RoomFinished},
			{webhook.ParticipantLeft, webhook.RoomFinished}, {webhook.BroadcastLive, webhook.BroadcastOffline},
			{webhook.BroadcastOffline, webhook.RoomFinished}, {webhook.RecordingStarted, webhook.RecordingFinished},
		} {
			if slices.Index(got, pair[0]) > slices.Index(got, pair[1]) {
				t.Errorf("%s after %s: %v", pair[0], pair[1], got)
			}
		}
		if n := count(got, webhook.TrackPublished); n != 2 || count(got, webhook.TrackUnpublished) != 2 {
			t.Errorf("%d tracks published, %d unpublished; want 2 and 2 (video and audio)", n, count(got, webhook.TrackUnpublished))
		}
		for _, typ := range []string{webhook.RoomStarted, webhook.RoomFinished, webhook.ParticipantJoined, webhook.ParticipantLeft} {
			if n := count(got, typ); n != 1 {
				t.Errorf("%d %s, want 1", n, typ)
			}
		}
		fin, _ := r.event(webhook.RecordingFinished)
		if fin.Recording == nil || fin.Recording.Status != "complete" || !strings.HasPrefix(fin.Recording.PlaybackURL, "http://") ||
			!strings.HasSuffix(fin.Recording.PlaybackURL, "/index.m3u8") || fin.Recording.DurationMS < 3000 {
			t.Errorf("recording_finished: %+v", fin.Recording)
		}
		if q, _ := r.event(webhook.ChatQuestion); q.Question == nil || q.Question.From != "aud" || q.Question.Text != "when is the break?" {
			t.Errorf("chat_question: %+v", q.Question)
		}
		// The restarted server counts what it delivered.
		res, err := http.Get(url2 + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(metrics), `lectern_webhook_events_total{outcome="delivered"}`) {
			t.Errorf("no webhook metrics in /metrics")
		}
		r.mu.Lock()
		for id, n := range r.seen {
			if n > 1 {
				t.Errorf("event %s delivered %d times", id, n)
			}
		}
		r.mu.Unlock()
	})
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// waitRecording polls the room's newest recording until ok holds.
func waitRecording(t *testing.T, url, key string, ok func(map[string]any) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, list := call(t, "GET", url+"/api/v1/rooms/web/recordings", key, "")
		if rs, _ := list["recordings"].([]any); len(rs) > 0 && ok(rs[0].(map[string]any)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("recording: %v", list)
		}
		time.Sleep(200 * time.Millisecond) // another component's pace
	}
}

// TestWebhooksHangingReceiver: a receiver that never answers slows neither
// the API (chat questions are posted) nor joins (room websockets), nor
// shutdown; and nothing it did not get is lost: after the server stops,
// every event is still in the outbox.
func TestWebhooksHangingReceiver(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	dataDir := t.TempDir()
	env := map[string]string{"LECTERN_DATA_DIR": dataDir, "LECTERN_WEBHOOK_URL": srv.URL, "LECTERN_WEBHOOK_SECRET": hookSecret}
	url, banner, stop := server(t, env)
	key := keyLine.FindStringSubmatch(banner)[1]
	if code, _ := call(t, "POST", url+"/api/v1/rooms", key, `{"id":"slow","name":"Slow","mode":"webinar"}`); code != 201 {
		t.Fatalf("create room: %d", code)
	}
	const posts, joins = 10, 4
	for i := range posts {
		_, tok := call(t, "POST", url+"/api/v1/tokens", key, `{"identity":"aud`+strconv.Itoa(i)+`","rooms":{"slow":{"permissions":["subscribe","send","receive","list"]}}}`)
		t0 := time.Now()
		if code, m := call(t, "POST", url+"/api/v1/rooms/slow/messages", tok["token"].(string), `{"text":"question?"}`); code != 201 {
			t.Fatalf("question %d: %d %v", i, code, m)
		}
		// The delivery timeout is 10 s: an API call that waited on the receiver would take that long.
		if d := time.Since(t0); d > 5*time.Second {
			t.Errorf("question %d took %v", i, d)
		}
		if i < joins {
			roomSocket(t, url, "slow", tok["token"].(string)) // fails the test after 5 s
		}
	}
	t0 := time.Now()
	stop()
	t.Logf("stopped in %v", time.Since(t0))

	db, err := storage.Open(t.Context(), "", dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The questions, room_started, the joins, and (on shutdown) the leaves and room_finished.
	want := posts + 1 + joins + joins + 1
	if n, err := db.WebhookBacklog(t.Context()); err != nil || n != want {
		t.Errorf("outbox after stopping holds %d, %v; want %d", n, err, want)
	}
}
