package hls

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"lectern/hls/hlstest"
	"lectern/sfu"
)

// TestReloadOfAStreamMovingHereIsHeld: a player reloading the media playlist
// of a stream this node never had, under a valid session, while nothing of
// the room is live here (its broadcast is moving here: the node it was on
// died and its encoder is reconnecting), is held until the room's stream is
// live here and then gets it, instead of a 404 (after a few of which ffmpeg's
// HLS reader gives up: the failover test of ffmpeg's reader, now part of
// TestFailoverHLSPlayers in interop/, failed so once in CI).
func TestReloadOfAStreamMovingHereIsHeld(t *testing.T) {
	// The hold lasts three target durations: the longest segments there
	// are give a loaded machine 18 s to put the room on air here.
	cfg := DefaultConfig()
	cfg.SegmentDuration = 6 * time.Second
	b := newTestBroadcast(t, cfg)
	session := b.svc.sign.sign("moved", time.Now().Add(time.Hour))
	got := getHeld(t, b, b.url+"/hls/moved/"+session+"/stream-of-a-dead-node/v0.m3u8")
	clip := hlstest.NewClip(t, 320, 180, 4, "moved")
	publish(t, b.room("moved"), hlstest.Track{Source: sfu.SourceCamera, Clip: clip})
	select {
	case a := <-got:
		// Held until the first segment, or three target durations on a
		// slow machine: then the parts there are so far.
		if body := string(a.body); a.status != 200 || !strings.Contains(body, "#EXT-X-MAP") || !strings.Contains(body, "#EXT-X-PART:") {
			t.Errorf("the held reload: %d\n%s", a.status, a.body)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("the held reload was not answered")
	}
}

// TestStaleMediaGetsWhatFollows: a player holding the URLs of a stream this
// node never had (the room's earlier node died; its playlist reload moved
// here) asks for that stream's next part, its preload hint, and its next
// segment. Neither will ever exist: while nothing is live here each request
// is held, and once the room's stream is live it gets the newest complete
// part or segment of that stream, privately cached, rather than a 404 that
// ends gohlslib's client and hls.js's playback (issue 20: an hls.js player
// in TestFailoverHLSPlayers asked for the dead stream's next segment before
// reloading its playlist, and stopped at the 404).
func TestStaleMediaGetsWhatFollows(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentDuration = 6 * time.Second // a long hold for a loaded machine
	b := newTestBroadcast(t, cfg)
	session := b.svc.sign.sign("moved", time.Now().Add(time.Hour))
	stale := b.url + "/hls/moved/" + session + "/stream-of-a-dead-node/"
	got := getHeld(t, b, stale+"v0-p7.m4s")
	clip := hlstest.NewClip(t, 320, 180, 4, "moved")
	publish(t, b.room("moved"), hlstest.Track{Source: sfu.SourceCamera, Clip: clip})
	select {
	case a := <-got:
		if a.status != 200 || !bytes.Contains(a.body, []byte("moof")) {
			t.Fatalf("the dead stream's hinted part: %d %q", a.status, a.body[:min(len(a.body), 200)])
		}
		if cc := a.header.Get("Cache-Control"); cc != cachePrivate {
			t.Errorf("the dead stream's hinted part is cached %q, want %q", cc, cachePrivate)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("the dead stream's hinted part was not answered")
	}

	// The next segment of the dead stream is the newest complete one here:
	// one of those in the live playlist right after.
	b.waitLive("moved")
	live := b.url + "/hls/moved/" + b.variantURI("moved", 0)
	b.waitSegments(live, 1)
	status, body, _ := b.get(stale + "v0-3.m4s")
	if status != 200 {
		t.Fatalf("the dead stream's next segment: %d %s", status, body)
	}
	_, list, _ := b.get(live)
	pl, err := hlstest.ParseMedia(list)
	if err != nil {
		t.Fatal(err)
	}
	var listed []uint64
	for i := len(pl.Segments) - 1; i >= 0 && len(listed) < 2; i-- {
		sg := pl.Segments[i]
		listed = append(listed, sg.MSN)
		if _, seg, _ := b.get(liveDir(live) + sg.URI); bytes.Equal(seg, body) {
			return
		}
	}
	t.Errorf("the dead stream's next segment (%d bytes) is none of the newest live segments %v", len(body), listed)
}

// liveDir is the directory of a media playlist URL, to resolve its URIs.
func liveDir(playlist string) string { return playlist[:strings.LastIndex(playlist, "/")+1] }

// heldAnswer is the answer to a request getHeld made.
type heldAnswer struct {
	status int
	body   []byte
	header http.Header
}

// getHeld GETs url and returns once the request has reached the service,
// failing the test if it was answered before the room was live here; the
// answer comes on the channel.
func getHeld(t *testing.T, b *testBroadcast, url string) <-chan heldAnswer {
	t.Helper()
	got := make(chan heldAnswer, 1)
	before := b.svc.Stats().Requests
	go func() {
		status, body, h := b.get(url)
		got <- heldAnswer{status, body, h}
	}()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for b.svc.Stats().Requests == before {
		select {
		case a := <-got:
			t.Fatalf("%s was answered before the room was live here: %d %s", url, a.status, a.body)
		case <-tick.C:
		}
	}
	return got
}
