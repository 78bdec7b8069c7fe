package sfu

import (
	"sync"
	"time"
)

// Dynacast: a browser publisher's simulcast layers that no sink takes are
// paused at the publisher, so that its uplink carries no more than anyone
// watches. A subscriber wants the highest layer its caps allow (tier, a
// manual choice, the size it renders the video at), whatever its bandwidth
// does: a subscriber on a poor link still leaves the layer to others, and
// when its link recovers the layer is there. A sink that is not a subscriber
// (the program, an RTSP reader) wants every layer. The lowest layer always
// stays on, so that a new subscriber's video never waits for the publisher.
//
// The publisher is told with a publish_layers event naming the encodings
// (RIDs) to keep sending; the pages' client turns it into
// RTCRtpSender.setParameters. Layers come back at once when wanted and pause
// only after dynacastHold, so that a tile resized for a moment does not
// restart an encoder.

const (
	// dynacastEvery is how often a track's wanted layer is rechecked by its
	// subscribers' allocators; a change of sinks or caps has it rechecked at
	// the next allocation.
	dynacastEvery = 500 * time.Millisecond
	// dynacastHold is how long a lower wish must hold before layers pause.
	dynacastHold = 2 * time.Second
)

// dynacastState is a track's dynacast decision, guarded by mu.
type dynacastState struct {
	mu   sync.Mutex
	next time.Time
	// sent is the highest layer the publisher was last asked to send, -1
	// before any request (it sends every layer).
	sent int
	// lowerSince is when the wanted layer fell below sent; zero while it has not.
	lowerSince time.Time
}

// layerWanter is a sink that takes only some of a track's layers.
type layerWanter interface {
	// wantedLayer is the highest of n layers the sink may take.
	wantedLayer(n int) int
}

// wantedLayer implements layerWanter: a paused track wants only the lowest
// layer; otherwise the layer the tier, a manual choice and the rendered size
// allow.
func (d *downTrack) wantedLayer(n int) int {
	if d.paused.Load() {
		return 0
	}
	d.mu.Lock()
	w := d.maxLay
	d.mu.Unlock()
	if m := int(d.manual.Load()); m >= 0 {
		w = min(w, m)
	}
	return min(w, tileLayer(n, topHeight(d.roomTier), int(d.viewHeight.Load())))
}

// dynacastSoon has the wanted layer rechecked at the next allocation.
func (t *Track) dynacastSoon() {
	t.dyn.mu.Lock()
	t.dyn.next = time.Time{}
	t.dyn.mu.Unlock()
}

// dynacast rechecks which layers the track's sinks want, at most every
// dynacastEvery (or at once after dynacastSoon), and tells the publisher when
// that changes. Subscribers' allocators call it, holding no lock. Only
// browser and WHIP publishers (tracks with keyframe requests) can be asked.
func (t *Track) dynacast() {
	if t.keyframe == nil || t.pli == nil {
		return
	}
	n := t.layerCount()
	if n < 2 {
		return
	}
	now := time.Now()
	t.dyn.mu.Lock()
	if now.Before(t.dyn.next) {
		t.dyn.mu.Unlock()
		return
	}
	t.dyn.next = now.Add(dynacastEvery)
	want := 0
	for _, s := range *t.sinks.Load() {
		if w, ok := s.(layerWanter); ok {
			want = max(want, w.wantedLayer(n))
		} else {
			want = n - 1
		}
	}
	want = min(want, n-1)
	sent := t.dyn.sent
	if sent < 0 {
		sent = n - 1
	}
	ask := false
	switch {
	case want >= sent:
		t.dyn.lowerSince = time.Time{}
		ask = want > sent
	case t.dyn.lowerSince.IsZero():
		t.dyn.lowerSince = now
	case now.Sub(t.dyn.lowerSince) >= dynacastHold:
		t.dyn.lowerSince = time.Time{}
		ask = true
	}
	if ask {
		t.dyn.sent = want
	}
	t.dyn.mu.Unlock()
	if !ask {
		return
	}
	info := t.Info()
	t.mu.Lock()
	active := make([]string, 0, want+1)
	for _, l := range t.layers[:min(want+1, len(t.layers))] {
		active = append(active, l.rid)
	}
	local := ""
	if r := t.layers[0].remote; r != nil {
		local = r.ID()
	}
	t.mu.Unlock()
	t.owner.log.Debug("dynacast", "track", t.id, "active", active)
	t.owner.send(Event{Type: EventPublishLayers, Track: &info, LocalTrack: local, Active: active})
}
