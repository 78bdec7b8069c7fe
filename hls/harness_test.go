package hls

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"lectern/access"
	"lectern/hls/hlstest"
	"lectern/program"
	"lectern/sfu"
)

// testBroadcast is a real SFU and HLS service with the HLS routes on a
// loopback HTTP server (the API serves the same routes in production).
type testBroadcast struct {
	t     testing.TB
	media *sfu.SFU
	progs *program.Set
	svc   *Service
	url   string
	// handler serves the HLS routes, for a test that serves them elsewhere too.
	handler http.Handler
}

func testLogger() *slog.Logger {
	if os.Getenv("HLS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newTestBroadcast(t testing.TB, cfg Config) *testBroadcast {
	t.Helper()
	log := testLogger()
	media, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", Loopback: true}, log)
	if err != nil {
		t.Fatal(err)
	}
	progs := program.NewSet(media, log)
	svc, err := New(cfg, progs, bytes.Repeat([]byte{9}, 32), log)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hls/{room}/index.m3u8", func(w http.ResponseWriter, r *http.Request) {
		body, err := svc.Multivariant(r.PathValue("room"), time.Time{})
		if err != nil {
			http.Error(w, err.Error(), statusOf(err))
			return
		}
		WriteMultivariant(w, body)
	})
	mux.HandleFunc("GET /hls/{room}/{session}/{stream}/{file}", func(w http.ResponseWriter, r *http.Request) {
		err := svc.Serve(w, r, r.PathValue("room"), r.PathValue("session"), r.PathValue("stream"), r.PathValue("file"))
		if err != nil && !errors.Is(err, context.Canceled) {
			http.Error(w, err.Error(), statusOf(err))
		}
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.Close()
		svc.Close()
		progs.Close()
		media.Close()
	})
	return &testBroadcast{t: t, media: media, progs: progs, svc: svc, url: hs.URL, handler: mux}
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrSession):
		return http.StatusForbidden
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrStarting):
		return http.StatusServiceUnavailable
	}
	return http.StatusNotFound
}

// room opens a broadcasting room with HLS on and joins a host who may publish.
func (b *testBroadcast) room(id string) *sfu.Participant {
	b.t.Helper()
	opts := sfu.RoomOptions{Broadcast: true, Tier: access.FHD}
	if err := b.svc.Configure(id, Settings{HLS: true, Media: opts}); err != nil {
		b.t.Fatal(err)
	}
	return b.join(id, "host")
}

func (b *testBroadcast) join(room, identity string) *sfu.Participant {
	b.t.Helper()
	r, err := b.media.Room(room, sfu.RoomOptions{Broadcast: true, Tier: access.FHD})
	if err != nil {
		b.t.Fatal(err)
	}
	p, err := r.Join(sfu.ParticipantOptions{Identity: identity, Kind: sfu.KindBrowser,
		Permissions: (access.Publish | access.Subscribe | access.List | access.Moderate)})
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { p.Close("test over") })
	return p
}

// waitLive waits for the room's first complete segment.
func (b *testBroadcast) waitLive(room string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.t.Context(), 20*time.Second)
	defer cancel()
	if err := b.svc.WaitLive(ctx, room); err != nil {
		b.t.Fatalf("room %s not live: %v", room, err)
	}
}

// get fetches url and returns the status and body.
func (b *testBroadcast) get(url string) (int, []byte, http.Header) {
	b.t.Helper()
	req, _ := http.NewRequestWithContext(b.t.Context(), "GET", url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, body, res.Header
}

// publish sends clip and sound as camera and microphone of p.
func publish(t testing.TB, p *sfu.Participant, tracks ...hlstest.Track) *hlstest.Publisher {
	t.Helper()
	return hlstest.Publish(t, p.Publish, tracks...)
}

// simulcastBroadcast puts a three-layer simulcast camera and a microphone on
// air in room and returns the media playlist URLs of its renditions, lowest
// first, once each has a complete segment.
func simulcastBroadcast(t *testing.T, b *testBroadcast, room string) []string {
	t.Helper()
	var clips []*hlstest.Clip
	for _, s := range [][2]int{{320, 180}, {480, 270}, {640, 360}} {
		clips = append(clips, hlstest.NewClip(t, s[0], s[1], 4, "ll"))
	}
	sound := hlstest.NewSound(t, 4, 440)
	publish(t, b.room(room), hlstest.Track{Source: sfu.SourceCamera, Simulcast: clips},
		hlstest.Track{Source: sfu.SourceMicrophone, Sound: sound})
	b.waitLive(room)
	var urls []string
	for i := range clips {
		u := b.url + "/hls/" + room + "/" + b.variantURI(room, i)
		b.waitSegments(u, 1)
		urls = append(urls, u)
	}
	return urls
}
