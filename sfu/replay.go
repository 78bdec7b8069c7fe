package sfu

import (
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// A subscriber that connects shortly after a layer's keyframe starts at that
// keyframe, replayed from the layer's packet cache, instead of waiting for a
// new one: the publisher's browser would not send one within
// encoderKeyframeGap of the last, and then takes its encoding time, so a
// viewer joining just after another (a crowd arriving) waited 0.1 to 0.3 s
// more for its first frame. A subscriber that joins asks for a keyframe
// ahead (askAhead), unless the last one is fresh, so that one arrives while
// it connects; that keyframe, or a later one, is its own to replay up to
// aheadMaxAge old, so that a connection that comes up slowly (a loaded
// server) costs no second request. Any other keyframe is replayed up to
// replayMaxAge old. The viewer starts that far behind the live picture and
// its jitter buffer catches up (netlab's joins: no lasting delay); more than
// replayMaxPackets back is never replayed, and a fresh keyframe is asked for
// as before.
const (
	replayMaxAge     = 500 * time.Millisecond
	aheadMaxAge      = 2 * time.Second
	replayMaxPackets = 384
)

// keyMark is where a layer's last keyframe starts in its packet cache. The
// layer's reader writes it (mark); a connecting subscriber reads it (since).
type keyMark struct {
	// seq is the sequence number of the keyframe's first packet, last that
	// of the latest packet forwarded, at when the keyframe's first packet
	// arrived (unix nanoseconds, 0 before the first keyframe).
	seq, last atomic.Uint32
	at        atomic.Int64
	// ts is the keyframe's RTP timestamp; the reader's alone.
	ts uint32
}

// mark records a forwarded packet: a keyframe's first packet moves the mark.
func (m *keyMark) mark(pkt *rtp.Packet, key bool, now time.Time) {
	if key && (m.at.Load() == 0 || pkt.Timestamp != m.ts) {
		m.ts = pkt.Timestamp
		m.seq.Store(uint32(pkt.SequenceNumber))
		m.at.Store(now.UnixNano())
	}
	m.last.Store(uint32(pkt.SequenceNumber))
}

// fresh reports whether the last keyframe is recent enough that a subscriber
// connecting soon can start at it: then no keyframe is asked for ahead.
func (m *keyMark) fresh(now time.Time) bool {
	at := m.at.Load()
	return at != 0 && now.UnixNano()-at < int64(replayMaxAge/2)
}

// askAhead asks for a keyframe of the target layer for a subscriber whose
// connection is coming up, unless the layer's last one is fresh; from then
// (or from that fresh one) a keyframe is the subscriber's own to replay.
func (d *downTrack) askAhead() {
	now := time.Now()
	_, target := d.layers()
	l := d.track.layerAt(target)
	if l == nil {
		return
	}
	if l.mark.fresh(now) {
		d.aheadFrom.Store(l.mark.at.Load())
		return
	}
	d.aheadFrom.Store(now.UnixNano())
	d.track.requestKeyframe(target)
}

// since returns the cached packets to replay, from the keyframe's first to
// the latest, if the keyframe is recent enough: replayMaxAge, or aheadMaxAge
// if it arrived at or after own (unix nanoseconds, 0 for none).
func (m *keyMark) since(now time.Time, own int64) (from, last uint16, ok bool) {
	at := m.at.Load()
	age := now.UnixNano() - at
	if at == 0 || age > int64(aheadMaxAge) || age > int64(replayMaxAge) && (own == 0 || at < own) {
		return 0, 0, false
	}
	from, last = uint16(m.seq.Load()), uint16(m.last.Load())
	if n := last - from; n >= replayMaxPackets {
		return 0, 0, false
	}
	return from, last, true
}

// replay starts the track's forwarding at the target layer's last keyframe
// from the packet cache, for a subscriber whose connection just came up and
// that has been sent nothing. It reports whether it did; if not, the track
// waits for a keyframe as usual. Live packets wait on mu meanwhile, and
// continue the replayed ones (one that raced the replay may go out twice,
// which a receiver drops).
func (d *downTrack) replay(target int) bool {
	l := d.track.layerAt(target)
	b := d.bound.Load()
	q := d.sub.out.Load()
	if l == nil || b == nil || q == nil || d.track.keyframe == nil || d.track.muted.Load() || d.paused.Load() || d.bwPaused.Load() {
		return false
	}
	from, last, ok := l.mark.since(time.Now(), d.aheadFrom.Load())
	if !ok {
		return false
	}
	buf := make([]byte, 0, 1500)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started || !d.waiting || d.target != target {
		return false
	}
	ts, marker, payload, ok := l.cache.get(from, buf)
	if !ok || !d.track.keyframe(payload) {
		return false // the keyframe's first packet is gone
	}
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: from, Timestamp: ts, Marker: marker}, Payload: payload}
	d.startAt(&pkt, target)
	d.current = target
	// Counted before the first packet can reach the subscriber.
	d.track.owner.room.sfu.stats.replays.Add(1)
	for seq := from; ; seq++ {
		if seq != from {
			// A packet lost on the way here is left out: the subscriber
			// asks for it (NACK) and gets it from the cache if it came.
			if pkt.Timestamp, pkt.Marker, pkt.Payload, ok = l.cache.get(seq, buf); !ok {
				if seq == last {
					break
				}
				continue
			}
			pkt.SequenceNumber = seq
		}
		d.sendLocked(b, &pkt)
		if seq == last {
			break
		}
	}
	return true
}
