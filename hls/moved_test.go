package hls

import (
	"bytes"
	"fmt"
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
// ends gohlslib's client and hls.js's playback (its init segment, asked for
// again, the live stream's) (issue 20: an hls.js player
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
	// The live stream's init segment is numbered on the media sequence's
	// scale, so its URL is not one the dead stream's players and CDNs have
	// cached (the dead stream's was numbered on its own, earlier, scale).
	var initN uint64
	if _, err := fmt.Sscanf(pl.Segments[0].Map, "v0-i%d.mp4", &initN); err != nil || initN > pl.Segments[0].MSN+1 || pl.Segments[0].MSN+1-initN > 100 {
		t.Errorf("the live stream's init segment is %q, want one numbered from its first media sequence number (its first listed segment is %d)", pl.Segments[0].Map, pl.Segments[0].MSN)
	}
	// The dead stream's numbers may be above the live stream's (its
	// segments can be shorter than the segment duration): a blocking
	// reload for one is answered at once, and a part numbered past the
	// live hint gets what follows too.
	ahead := fmt.Sprintf("v0.m3u8?_HLS_msn=%d&_HLS_part=0", pl.Segments[len(pl.Segments)-1].MSN+50)
	asked := time.Now()
	if status, body, _ := b.get(stale + ahead); status != 200 || !bytes.Contains(body, []byte("#EXT-X-PRELOAD-HINT")) || time.Since(asked) > 2*time.Second {
		t.Errorf("a blocking reload of the dead stream's numbers: %d after %v\n%s", status, time.Since(asked).Round(time.Millisecond), body)
	}
	// A stale URL's reload for the live stream's own next part is held as
	// usual until that part exists: answered at once, every player that kept
	// its URLs through a failover would reload without pause.
	_, list, _ = b.get(live)
	now, err := hlstest.ParseMedia(list)
	if err != nil {
		t.Fatal(err)
	}
	nm, np := now.NextPart()
	_, heldBody, _ := b.get(stale + fmt.Sprintf("v0.m3u8?_HLS_msn=%d&_HLS_part=%d", nm, np))
	if held, err := hlstest.ParseMedia(heldBody); err != nil {
		t.Errorf("the held reload: %v\n%s", err, heldBody)
	} else if hm, hp := held.NextPart(); hm < nm || hm == nm && hp <= np {
		t.Errorf("a stale reload for the live stream's next part (%d.%d) was answered before it existed (next is %d.%d)", nm, np, hm, hp)
	}
	// Four parts into the segment after the live one: the dead stream's
	// numbers, a part or two ahead, answered at once too (held, hls.js
	// timed out on it: levelLoadTimeOut, a 7 s stall in CI).
	_, soonBody, _ := b.get(stale + fmt.Sprintf("v0.m3u8?_HLS_msn=%d&_HLS_part=4", nm+1))
	if soon, err := hlstest.ParseMedia(soonBody); err != nil {
		t.Errorf("the reload four parts ahead: %v\n%s", err, soonBody)
	} else if sm, sp := soon.NextPart(); sm > nm+1 || sm == nm+1 && sp > 4 {
		t.Errorf("a stale reload four parts past the live stream's next (%d.4) was held until it existed (next is %d.%d)", nm+1, sm, sp)
	}
	// The dead stream's init segment, which a player whose connection broke
	// asks for again (ffmpeg's reader did, and ended at the 404: a failed
	// TestFailoverHLSPlayers), is the live stream's, privately cached.
	_, liveInit, _ := b.get(liveDir(live) + pl.Segments[len(pl.Segments)-1].Map)
	if status, body, h := b.get(stale + "v0-i3.mp4"); status != 200 || !bytes.Equal(body, liveInit) || h.Get("Cache-Control") != cachePrivate {
		t.Errorf("the dead stream's init segment: %d, %d bytes (the live one has %d), cached %q", status, len(body), len(liveInit), h.Get("Cache-Control"))
	}
	var hint uint64
	if _, err := fmt.Sscanf(pl.Hint, "v0-p%d.m4s", &hint); err != nil {
		t.Fatalf("hint %q: %v", pl.Hint, err)
	}
	if status, body, h := b.get(stale + fmt.Sprintf("v0-p%d.m4s", hint+1000)); status != 200 || !bytes.Contains(body, []byte("moof")) || h.Get("Cache-Control") != cachePrivate {
		t.Errorf("a part of the dead stream's numbered past the live hint: %d %q", status, body[:min(len(body), 100)])
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
