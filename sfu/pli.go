package sfu

import (
	"sync"
	"time"
)

// Keyframe requests to publishers (PLI, RFC 4585 section 6.3.1). A request
// goes out only when a sink needs a keyframe (a subscriber connects or
// switches layers, a loss nobody can repair, a broadcast program starting or
// cutting a segment), and then as few as serve them all:
//
//   - one request is out until its keyframe arrives (or keyframeWait plus a
//     round trip passes): every sink asking meanwhile is served by it;
//   - two requests to a layer are at least minPLIInterval apart, so that a
//     crowd joining at once costs a few keyframes a second, not one each;
//   - a layer that sends nothing (paused by its encoder) is not asked;
//   - no request goes out within encoderKeyframeGap of the layer's last
//     keyframe, which a browser's encoder would drop: it waits until then;
//   - when the encoder sends keyframes on its own at a steady interval and the
//     next one is due within what the sink accepts to wait (its slack), none
//     is asked for; if that keyframe does not come, one is asked for then.

const (
	// minPLIInterval is the least time between two requests to one layer.
	minPLIInterval = 150 * time.Millisecond
	// keyframeWait, plus the round trip, is how long a request is taken to
	// be on its way to an answer.
	keyframeWait = 200 * time.Millisecond
	// encoderKeyframeGap is how soon after a keyframe a browser's encoder
	// takes another request: libwebrtc drops the requests that arrive within
	// 300 ms of the last keyframe it sent (its minimum keyframe send
	// interval), and a request dropped so was answered only by a sink's
	// retry, a second later (netlab's joins: first frame 1.1 s after the
	// connection with a cheap picture). Counted from the keyframe's arrival
	// here, which is later than its sending there.
	encoderKeyframeGap = 300 * time.Millisecond
	// maxGOP is the longest natural keyframe interval that is waited for.
	maxGOP = 5 * time.Second
	// joinSlack is how long a subscriber's request may wait for a natural
	// keyframe; sinkSlack is the same for server-side sinks (HLS, recording),
	// which ask ahead of the segment boundary they need it for.
	joinSlack = 250 * time.Millisecond
	sinkSlack = time.Second
)

// pliInterval is how long a sink that lost packets it cannot get repaired
// waits before asking for a keyframe again.
const pliInterval = time.Second

// keyframeRetry is how long a subscriber waiting for a keyframe waits before
// asking again (a lost request, a lost keyframe); the requests themselves are
// paced by the layer's bookkeeping (decideLocked), so asking again early
// costs no extra request.
const keyframeRetry = 400 * time.Millisecond

// keyframeState is one layer's keyframe bookkeeping. mu guards it.
type keyframeState struct {
	mu sync.Mutex
	// wanted says a request waits for the timer; slack is how long its most
	// impatient asker accepts to wait for a natural keyframe.
	wanted bool
	slack  time.Duration
	// awaiting says a request is out since lastSent; unanswered counts
	// requests in a row that got no keyframe (the wait doubles for each).
	awaiting   bool
	lastSent   time.Time
	unanswered int
	// haveKey, lastKey and lastKeyTS are the last keyframe seen; gop is the
	// encoder's own keyframe interval, 0 when it has none (browsers send
	// keyframes only when asked).
	haveKey   bool
	natural   bool // the last keyframe came unasked
	lastKey   time.Time
	lastKeyTS uint32
	gop       time.Duration
	timer     *time.Timer
	timerAt   time.Time
	closed    bool
}

// requestKeyframe asks for a keyframe on layer i for a subscriber. When that
// layer is silent (its encoder paused it) the request goes to the best layer
// still sending, which an automatic subscriber then settles for.
func (t *Track) requestKeyframe(i int) {
	now := time.Now()
	for i > 0 {
		if l := t.layerAt(i); l != nil && !l.silent(now) {
			break
		}
		i--
	}
	t.askKeyframe(i, joinSlack)
}

// RequestLayerKeyframe asks the publisher for a keyframe on simulcast layer i
// (0 is the lowest), for a server-side sink: a keyframe the encoder sends on
// its own within about a second serves instead.
func (t *Track) RequestLayerKeyframe(i int) { t.askKeyframe(i, sinkSlack) }

// RequestKeyframe asks the publisher for a keyframe on the top layer.
func (t *Track) RequestKeyframe() { t.askKeyframe(t.layerCount()-1, sinkSlack) }

func (t *Track) askKeyframe(i int, slack time.Duration) {
	l := t.layerAt(i)
	if l == nil || t.keyframe == nil || t.pli == nil {
		return
	}
	now := time.Now()
	if l.silent(now) {
		return // a paused encoder cannot answer; it resumes with a keyframe
	}
	k := &l.kf
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return
	}
	if !k.wanted || slack < k.slack {
		k.slack = slack
	}
	k.wanted = true
	send := t.decideLocked(l, now)
	k.mu.Unlock()
	if send {
		t.sendPLI(l)
	}
}

// silent reports whether the layer sent nothing for silentLayer.
func (l *layer) silent(now time.Time) bool {
	last := l.lastPacket.Load()
	return last == 0 || now.UnixNano()-last > int64(silentLayer)
}

// wait is how long a request is given to be answered.
func (l *layer) wait() time.Duration {
	return (keyframeWait + l.nack.roundTrip()) << min(l.kf.unanswered, 3)
}

// decideLocked sends the wanted request now (true) or sets the timer for when
// to decide again. Called with l.kf.mu held.
func (t *Track) decideLocked(l *layer, now time.Time) bool {
	k := &l.kf
	wait := l.wait()
	if k.awaiting && now.Before(k.lastSent.Add(wait)) {
		t.armLocked(l, k.lastSent.Add(wait), now)
		return false
	}
	if k.awaiting {
		k.awaiting = false
		k.unanswered++
		wait = l.wait()
	}
	at := now
	if k.gop > 0 {
		next := k.lastKey.Add(k.gop)
		switch {
		case next.Add(wait).Before(now):
			k.gop = 0 // the encoder's rhythm broke
		case next.Sub(now) <= k.slack:
			at = next.Add(wait)
		}
	}
	if earliest := k.lastSent.Add(minPLIInterval); at.Before(earliest) {
		at = earliest
	}
	if earliest := k.lastKey.Add(encoderKeyframeGap); k.haveKey && at.Before(earliest) {
		at = earliest
	}
	if at.After(now) {
		t.armLocked(l, at, now)
		return false
	}
	k.wanted, k.awaiting, k.lastSent = false, true, now
	return true
}

// armLocked makes the timer fire at at (or earlier). Called with l.kf.mu held.
func (t *Track) armLocked(l *layer, at, now time.Time) {
	k := &l.kf
	if k.timer != nil && !at.Before(k.timerAt) {
		return
	}
	if k.timer != nil {
		k.timer.Stop()
	}
	k.timerAt = at
	k.timer = time.AfterFunc(at.Sub(now), func() { t.keyframeTimer(l) })
}

// keyframeTimer decides again about a request that had to wait.
func (t *Track) keyframeTimer(l *layer) {
	k := &l.kf
	k.mu.Lock()
	k.timer = nil
	now := time.Now()
	if k.closed || !k.wanted {
		k.mu.Unlock()
		return
	}
	if l.silent(now) {
		k.wanted = false
		k.mu.Unlock()
		return
	}
	send := t.decideLocked(l, now)
	k.mu.Unlock()
	if send {
		t.sendPLI(l)
	}
}

func (t *Track) sendPLI(l *layer) {
	t.pli(l.ssrc)
	t.owner.room.sfu.stats.keyframeReqs.Add(1)
}

// keyframeSeen records a keyframe (any of its packets) of the layer: it
// answers every request, and one that came unasked measures the encoder's
// own keyframe interval.
func (l *layer) keyframeSeen(ts uint32, now time.Time) {
	k := &l.kf
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.haveKey && ts == k.lastKeyTS {
		return
	}
	natural := !(k.awaiting && now.Sub(k.lastSent) < l.wait())
	if natural && k.haveKey && k.natural {
		// Only two keyframes in a row that came unasked measure the
		// encoder's rhythm.
		if iv := now.Sub(k.lastKey); iv <= maxGOP {
			k.gop = iv
		} else {
			k.gop = 0
		}
	}
	k.haveKey, k.natural, k.lastKey, k.lastKeyTS = true, natural, now, ts
	k.wanted, k.awaiting, k.unanswered = false, false, 0
	if k.timer != nil {
		k.timer.Stop()
		k.timer = nil
	}
}

// stopKeyframes ends the layer's timer for good.
func (l *layer) stopKeyframes() {
	k := &l.kf
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	if k.timer != nil {
		k.timer.Stop()
		k.timer = nil
	}
}
