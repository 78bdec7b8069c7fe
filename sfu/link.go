package sfu

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/pion/rtp"

	"lectern/access"
)

// The subscriber's allocator: every allocateEvery, on the send queue's
// goroutine, it reads the connection's estimate, shares it among the
// subscribed tracks (allocate), pauses and resumes videos (telling the
// client), and probes for headroom with padding when a higher layer is wanted.

// paddingSize is the payload of one padding-only packet (RFC 3550 section
// 5.1: the last octet counts the padding, at most 255).
const paddingSize = 255

// SetView records the size, in device pixels, at which the client renders a
// subscribed video: the allocator sends no layer much taller than that. A
// height of 0 means unknown (no cap). A hidden tile is paused with SetPaused.
func (p *Participant) SetView(trackID string, width, height int) error {
	d := p.down(trackID)
	if d == nil {
		return fmt.Errorf("%w: not subscribed to %s", ErrTrackNotFound, trackID)
	}
	if width < 0 || height < 0 || width > 16384 || height > 16384 {
		return fmt.Errorf("%w: view size %dx%d", ErrBadLayer, width, height)
	}
	d.viewHeight.Store(int32(height))
	d.track.dynacastSoon()
	return nil
}

// topHeight is the height assumed for a room tier's top simulcast layer.
func topHeight(t access.Tier) int {
	switch t {
	case access.SD:
		return 360
	case access.FHD:
		return 1080
	case access.UHD:
		return 2160
	}
	return 720
}

// linkState is the allocator's and prober's state for one subscriber
// connection, owned by its send queue's goroutine.
type linkState struct {
	probe     probeState
	lastAlloc time.Time
	lastPad   time.Time
	a         allocation
	downs     []*downTrack
}

// probeTick is how often padding is sent while probing: often enough that
// the probe is a steady rate, not bursts that read as congestion.
const probeTick = 10 * time.Millisecond

// linkTick runs on the send queue's goroutine: the allocator every
// allocateEvery, padding every probeTick while probing. It returns when it
// wants to run next.
func (p *Participant) linkTick(q *sendQueue, est *estimator, ls *linkState) time.Duration {
	now := time.Now()
	if now.Sub(ls.lastAlloc) >= allocateEvery {
		ls.lastAlloc = now
		p.allocateTick(q, est, ls)
	}
	if ls.probe.rate == 0 {
		ls.lastPad = time.Time{}
		return max(time.Millisecond, allocateEvery-time.Since(ls.lastAlloc))
	}
	if !ls.lastPad.IsZero() {
		pad := (ls.probe.rate - ls.a.total) * int64(now.Sub(ls.lastPad)) / int64(time.Second) / 8
		if n := int(pad / paddingSize); n > 0 {
			for _, d := range ls.downs {
				if d.track.keyframe != nil && d.pad(q, min(n, 64)) {
					break
				}
			}
			ls.lastPad = now
		}
	} else {
		ls.lastPad = now
	}
	return probeTick
}

// allocateTick runs one round of the allocator.
func (p *Participant) allocateTick(q *sendQueue, est *estimator, ls *linkState) {
	bps, congested := est.estimate()
	p.mu.Lock()
	downs := make([]*downTrack, 0, len(p.downs))
	for _, d := range p.downs {
		downs = append(downs, d)
	}
	p.mu.Unlock()
	ls.downs = downs
	for _, d := range downs {
		d.track.dynacast()
	}
	if len(downs) == 0 {
		ls.a = allocation{}
		q.setRate(bps)
		return
	}
	roomTier := p.room.options().Tier
	speaker := p.room.activeSpeaker()
	tracks := make([]allocTrack, len(downs))
	for i, d := range downs {
		tracks[i] = d.allocInfo(topHeight(roomTier), speaker)
	}
	// Without congestion the allocation may run up to a seventh over the
	// estimate (GCC's delay-based rate sits below what the path carries, and
	// dips on a busy machine's jitter): layers change on real congestion,
	// not on every dip.
	budget := bps
	if !congested {
		budget += bps / 7
	}
	a := allocate(budget, tracks)
	now := time.Now()
	if bps > 0 {
		a = holdDowns(a, budget, tracks, downs, est.heavyLoss(), now)
	}
	ls.a = a
	// Pacing never throttles below what is allocated: a stream with one
	// layer goes out whole even when the estimate is below it.
	if bps > 0 {
		q.setRate(max(bps, a.total))
	} else {
		q.setRate(0)
	}
	if p.log.Enabled(context.Background(), slog.LevelDebug) {
		p.log.Debug("allocation", "estimate", bps, "congested", congested, "probe", ls.probe.rate, "total", a.total, "next", a.next, "layers", a.layers)
	}
	if bps > 0 {
		for i, d := range downs {
			d.applyLayer(d.steady(a.layers[i], tracks[i].priority <= prioSpeaker, now))
		}
	}
	ls.probe.update(est, bps, congested, a)
}

// allocInfo describes the track to the allocator.
func (d *downTrack) allocInfo(top int, speaker *Participant) allocTrack {
	t := d.track
	at := allocTrack{priority: prioOther, order: t.order}
	switch {
	case t.keyframe == nil:
		at.priority = prioAudio
	case t.source == SourceScreen:
		at.priority = prioScreen
	case speaker != nil && t.owner == speaker:
		at.priority = prioSpeaker
	}
	n := t.layerCount()
	live := 0
	for l := range n {
		if x := t.layerAt(l); x != nil {
			at.rates = append(at.rates, x.rate.Load())
			if !t.layerStale(l) {
				live = l
			}
		}
	}
	if len(at.rates) == 0 {
		at.rates = []int64{0}
	}
	d.mu.Lock()
	at.maxLayer = min(d.maxLay, live)
	d.mu.Unlock()
	if m := int(d.manual.Load()); m >= 0 {
		at.maxLayer = min(at.maxLayer, m)
	}
	at.maxLayer = min(at.maxLayer, tileLayer(len(at.rates), top, int(d.viewHeight.Load())))
	return at
}

// downHold is how long a track keeps its layer while the allocation puts it
// lower by a little (what keeping it costs is at most half again the
// budget, and loss is not heavy). GCC answers a moment's queue, such as a
// large keyframe's burst, by falling to 85% of what arrived, which is below
// the layer that was arriving; the estimate then climbs back within a second
// or two. Moving down at once turned each such moment into two layer
// switches, each a keyframe larger than anything else on the link, and a
// freeze: on a 3 Mbit/s link with 5% random loss the netlab's viewer spent
// most of its time at 360p, and a busy machine's jitter did the same on a
// free link. A real drop of the link puts the allocation far lower, or loses
// heavily (the loss meter reads 15% overload as heavy within two windows),
// and moves down at once.
const downHold = 3 * time.Second

// holdDowns keeps each track whose allocation is a little below its layer on
// that layer for downHold (downSince), and returns the allocation with the
// layers kept, their cost in total, and no probe while any is kept.
func holdDowns(a allocation, budget int64, tracks []allocTrack, downs []*downTrack, heavyLoss bool, now time.Time) allocation {
	for i, d := range downs {
		want := a.layers[i]
		cur := -1
		if !d.bwPaused.Load() {
			_, cur = d.layers()
		}
		if want >= cur || d.pin.Load() >= 0 || tracks[i].priority == prioAudio {
			d.downSince = time.Time{}
			continue
		}
		keep := a.total - tracks[i].rate(want) + tracks[i].rate(cur)
		if heavyLoss || keep*2 > budget*3 {
			d.downSince = time.Time{}
			continue
		}
		if d.downSince.IsZero() {
			d.downSince = now
		}
		if now.Sub(d.downSince) >= downHold {
			d.downSince = time.Time{}
			continue
		}
		a.layers[i], a.total, a.next = cur, keep, 0
	}
	return a
}

// upgradeHold is how long the allocation must keep choosing a higher layer
// (or a paused video) before the track moves up: an estimate that wobbles on
// a jittery link does not switch layers every allocation, each switch costing
// a keyframe. Moving down is at once, and so is resuming the active speaker's
// or a screen share's paused video (the speaker changed, not the estimate).
//
// An upgrade that has to be taken back within failedUpgrade (the higher
// layer did not fit after all: on a link with random loss, the estimate sits
// near the layer's rate and the top layer's keyframes overflow the queue)
// doubles the hold for the next one, up to maxUpgradeHold; one that holds
// halves it, and calmAfter without a move down brings it back to
// upgradeHold (a viewer whose link is freed climbs back within seconds: the
// cap is 4 s so that one step up after a limit is lifted stays well inside
// issue 13's 10 s; at 8 s the netlab's step to unlimited took 10.1 s). Without it a viewer on a 3 Mbit/s
// link with 5% loss switched between 720p and 360p every 1.5 to 5 s, each
// switch a keyframe larger than anything else on the link (netlab).
const (
	upgradeHold    = time.Second
	failedUpgrade  = 5 * time.Second
	maxUpgradeHold = 4 * time.Second
	calmAfter      = 30 * time.Second
)

// steady returns the layer to apply for a track the allocator put on want
// (-1: paused): lower at once, higher only once the allocation has chosen a
// higher one for the track's hold (upgradeHold, longer after failed
// upgrades). A paused track that is urgent resumes at once.
func (d *downTrack) steady(want int, urgent bool, now time.Time) int {
	cur := -1
	if !d.bwPaused.Load() {
		_, cur = d.layers()
	}
	if want < cur {
		if !d.upAt.IsZero() && now.Sub(d.upAt) < failedUpgrade {
			d.upHold = min(2*max(d.upHold, upgradeHold), maxUpgradeHold)
		}
		// A wish from before the move down does not count toward the next.
		d.upAt, d.upSince, d.downAt = time.Time{}, time.Time{}, now
		return want
	}
	if want == cur || (urgent && cur < 0) {
		return want
	}
	if d.upHold == 0 || now.Sub(d.downAt) > calmAfter {
		d.upHold = upgradeHold
	}
	if !d.upAt.IsZero() && now.Sub(d.upAt) >= failedUpgrade {
		// The last move up held: the next one waits half as long.
		d.upHold, d.upAt = max(d.upHold/2, upgradeHold), time.Time{}
	}
	// A wish that lapsed for a tick or two (an estimate wobbling around the
	// layer's rate) keeps its place; one that lapsed for half the hold
	// starts again.
	if d.upSince.IsZero() || now.Sub(d.upLast) > upgradeHold/2 {
		d.upSince = now
	}
	d.upLast = now
	if now.Sub(d.upSince) < d.upHold {
		return cur
	}
	d.upSince, d.upAt = time.Time{}, now
	return want
}

// applyLayer carries out the allocator's choice for the track: a layer, or -1 to pause.
func (d *downTrack) applyLayer(layer int) {
	if d.track.keyframe == nil || d.pin.Load() >= 0 {
		return
	}
	if layer < 0 {
		if !d.bwPaused.Swap(true) {
			info := d.track.Info()
			d.sub.send(Event{Type: EventVideoPaused, Track: &info, Reason: "bandwidth"})
		}
		return
	}
	if d.bwPaused.Swap(false) {
		d.setTarget(layer)
		d.resync()
		info := d.track.Info()
		d.sub.send(Event{Type: EventVideoResumed, Track: &info})
		return
	}
	if _, target := d.layers(); target != layer {
		d.setTarget(layer)
	}
}

// update starts or ends a probe. A probe is wanted when the allocation
// could use more than the estimate; padding (linkTick) makes the connection
// carry the probe rate, and the probe succeeds when the estimator sees no
// congestion for probeLength.
func (ps *probeState) update(est *estimator, bps int64, congested bool, a allocation) {
	now := time.Now()
	switch {
	case ps.rate > 0 && (congested || est.probeLossy()):
		ps.rate, ps.gap = 0, min(max(ps.gap*2, minProbeGap), maxProbeGap)
		ps.next = now.Add(ps.gap)
	case ps.rate > 0 && now.After(ps.until):
		est.probeSucceeded(ps.rate)
		ps.rate, ps.gap = 0, 0
		ps.next = now
	case ps.rate == 0 && bps > 0 && a.next > 0 && !congested && now.After(ps.next):
		// Probe for the next step only, and for at most twice the
		// estimate: a probe carries more than the estimate for up to
		// probeLength, and on a link that cannot take it the link drops
		// media with the padding. Probing for everything wanted, up to
		// three times the estimate, put 1.0 to 1.4 Mbit/s on the netlab's
		// 400 kbit/s link and 3 Mbit/s (360p to 720p) on its 1 Mbit/s link
		// every few seconds, and each time lost packets that repair could
		// not bring back (3 s freezes). A large step is climbed in probes
		// that each double the estimate.
		if rate := min(a.next*11/10, 2*bps); rate > bps {
			ps.rate, ps.until = rate, now.Add(probeLength)
			est.startProbe()
		}
	}
}

// pad queues n padding-only packets on the track's stream, after the last
// packet sent, if the stream is running and the last packet ended a frame.
// They take sequence numbers that no NACK maps back to media.
func (d *downTrack) pad(q *sendQueue, n int) bool {
	b := d.bound.Load()
	if b == nil || d.paused.Load() || d.bwPaused.Load() || d.pin.Load() >= 0 {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.started || d.waiting || !d.lastMarker {
		return false
	}
	var payload [paddingSize]byte
	payload[paddingSize-1] = paddingSize
	first := d.lastSeq + 1
	d.addEpoch(first, -1)
	for range n {
		d.lastSeq++
		h := rtp.Header{Version: 2, Padding: true, PayloadType: b.pt, SequenceNumber: d.lastSeq, Timestamp: d.lastTS, SSRC: b.ssrc}
		q.push(d, b, &h, payload[:], true)
	}
	d.seqOff += uint16(n)
	d.addEpoch(d.lastSeq+1, d.current)
	return true
}
