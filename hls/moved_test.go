package hls

import (
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
	url := b.url + "/hls/moved/" + session + "/stream-of-a-dead-node/v0.m3u8"
	type answer struct {
		status int
		body   string
	}
	got := make(chan answer, 1)
	before := b.svc.Stats().Requests
	go func() {
		status, body, _ := b.get(url)
		got <- answer{status, string(body)}
	}()
	// The reload has reached the service before the room is on HLS here.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for b.svc.Stats().Requests == before {
		select {
		case a := <-got:
			t.Fatalf("answered before the room was live here: %d %s", a.status, a.body)
		case <-tick.C:
		}
	}
	clip := hlstest.NewClip(t, 320, 180, 4, "moved")
	publish(t, b.room("moved"), hlstest.Track{Source: sfu.SourceCamera, Clip: clip})
	select {
	case a := <-got:
		// Held until the first segment, or three target durations on a
		// slow machine: then the parts there are so far.
		if a.status != 200 || !strings.Contains(a.body, "#EXT-X-MAP") || !strings.Contains(a.body, "#EXT-X-PART:") {
			t.Errorf("the held reload: %d\n%s", a.status, a.body)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("the held reload was not answered")
	}
}
