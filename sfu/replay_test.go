package sfu

import (
	"fmt"
	"testing"
	"time"

	"lectern/access"
)

// TestJoinStartsAtTheLastKeyframe: a viewer whose connection comes up soon
// after the layer's last keyframe (the one its join asked for ahead, or
// another viewer's) starts at that keyframe, replayed from the packet cache:
// its first video packet is the keyframe's first, with the publisher's
// timestamp, and no wait for a new one. The publisher sends keyframes only
// when asked and drops requests within 300 ms of its last, as browsers do.
// A join whose connection takes longer than replayMaxAge (a loaded machine)
// waits for a new keyframe as before and is not counted; one of five must be
// replayed.
func TestJoinStartsAtTheLastKeyframe(t *testing.T) {
	room, _ := onDemandBroadcast(t, "replay", func(p *lossyPublisher) { p.minKeyGap = 300 * time.Millisecond })
	first := subscribe(t, join(t, room, "first", access.Subscribe))
	first.waitSources(10*time.Second, SourceCamera)
	track := room.Tracks()[0]
	for i := range 5 {
		before := room.sfu.Stats().Replays
		start := time.Now()
		sub := subscribe(t, join(t, room, fmt.Sprintf("viewer%d", i), access.Subscribe))
		sub.waitSources(10*time.Second, SourceCamera)
		took := time.Since(start)
		pkt := <-sub.video
		replayed := room.sfu.Stats().Replays - before
		t.Logf("join %d: first video after %v, replays %d", i, took.Round(time.Millisecond), replayed)
		if replayed == 0 {
			continue
		}
		if replayed != 1 {
			t.Fatalf("one join counted %d replays", replayed)
		}
		if !track.keyframe(pkt.Payload) {
			t.Fatalf("the replayed join's first video packet is not a keyframe's: % x", pkt.Payload[:min(len(pkt.Payload), 8)])
		}
		return
	}
	t.Fatal("none of five joins started at the cached keyframe")
}
