package sfu

import (
	"slices"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// Loss repair toward publishers: generic NACK (RFC 4585 section 6.2.1) with a
// bound. Each missing packet is asked for at most maxNackTries times, spaced
// by the measured round-trip time, within a budget of a tenth of the layer's
// packets; a layer that went silent (paused by its encoder, or gone) is
// never asked about; a packet recovered late is kept in the layer's cache
// and sent only to the subscribers that NACKed it.
//
// The SFU generates these NACKs itself rather than with pion's generator
// interceptor, which sees neither the packets that arrive on the RTX stream
// (RFC 4588) nor a layer's silence: it asked for recovered packets again and
// again, ten times a second, until they left its window.

const (
	// maxNackTries is how often one missing packet is asked for.
	maxNackTries = 3
	// reorderWait is how long a gap waits before its first NACK: packets
	// overtake each other (on loopback too, across CPUs) by a few ms.
	reorderWait = 20 * time.Millisecond
	// minNackSpacing is the least time between two NACKs for one packet,
	// however short the round trip.
	minNackSpacing = 30 * time.Millisecond
	// defaultRTT is assumed until a retransmission has been timed.
	defaultRTT = 100 * time.Millisecond
	// maxRTT caps the estimate (and so the spacing).
	maxRTT = time.Second
	// silentLayer is how long a layer may send nothing before what it lost is
	// forgotten and keyframes are no longer asked of it.
	silentLayer = time.Second
	// maxNackGap is the widest gap that is repaired packet by packet; a wider
	// one is an outage, which only a keyframe repairs.
	maxNackGap = 128
	// maxMissing bounds the packets being repaired at once per layer.
	maxMissing = 256
	// maxWants bounds the subscribers waiting for one recovered packet.
	maxWants = 512
	// nackBudget is the share of a layer's packets that may be asked for
	// again, and nackBurst how many may be asked for at once: on a
	// congested uplink, retransmissions must not crowd out the media (what
	// the budget leaves unrepaired, a keyframe repairs).
	nackBudget = 0.1
	nackBurst  = 32
)

// arrival classifies a packet read from a publisher.
type arrival int

const (
	// arrivalNew is a packet newer than every one before it.
	arrivalNew arrival = iota
	// arrivalReordered is a missing packet arriving before it was NACKed:
	// it goes on to the sinks like a new one, in its place.
	arrivalReordered
	// arrivalRecovered is a missing packet arriving after it was NACKed.
	arrivalRecovered
	// arrivalDuplicate is a packet already received, or too old to matter.
	arrivalDuplicate
)

// want is a subscriber that NACKed a packet the SFU is itself missing: out is
// the sequence number the subscriber knows it by.
type want struct {
	d   *downTrack
	out uint16
}

type missingPacket struct {
	seq   uint16
	tries int
	// sent is when the last NACK for it went out; next is when the next one
	// (or giving up) is due.
	sent, next time.Time
	wants      []want
}

// nackResult is what one arrival asks of the reader.
type nackResult struct {
	kind arrival
	// nack lists the sequence numbers to NACK now.
	nack []uint16
	// wants are the subscribers to send a recovered packet to.
	wants []want
	// lost says a packet that a subscriber asked for will not come: someone
	// needs a keyframe.
	lost bool
}

// nackGenerator tracks one publisher layer's sequence numbers. The layer's
// reader calls received for every packet; subscribers' RTCP goroutines call
// await. mu guards every field.
type nackGenerator struct {
	mu      sync.Mutex
	started bool
	highest uint16
	last    time.Time
	rtt     time.Duration
	// tokens are the NACKs the budget allows now.
	tokens float64
	// missing is in arrival order of the gaps, so oldest first.
	missing []missingPacket
}

// received records packet seq arriving at now and fills r with what to do.
// It checks only on arrivals whether NACKs are due: a silent layer gets none.
func (g *nackGenerator) received(seq uint16, now time.Time, r *nackResult) {
	g.mu.Lock()
	defer g.mu.Unlock()
	*r = nackResult{nack: r.nack[:0]}
	if g.started && now.Sub(g.last) > silentLayer {
		// Whatever went missing before the silence is history.
		g.forget(r)
	}
	g.last = now
	if !g.started {
		g.started, g.highest, g.tokens = true, seq, nackBurst
		return
	}
	switch diff := int16(seq - g.highest); {
	case diff > 0:
		if gap := int(diff) - 1; gap > maxNackGap {
			g.forget(r)
		} else {
			for s := g.highest + 1; s != seq; s++ {
				g.missing = append(g.missing, missingPacket{seq: s, next: now.Add(reorderWait)})
			}
			if over := len(g.missing) - maxMissing; over > 0 {
				for _, m := range g.missing[:over] {
					r.lost = r.lost || len(m.wants) > 0
				}
				g.missing = slices.Delete(g.missing, 0, over)
			}
		}
		g.highest = seq
		g.tokens = min(g.tokens+nackBudget, nackBurst)
	case diff == 0:
		r.kind = arrivalDuplicate
	default:
		i := slices.IndexFunc(g.missing, func(m missingPacket) bool { return m.seq == seq })
		if i < 0 {
			r.kind = arrivalDuplicate
			break
		}
		m := g.missing[i]
		if m.tries == 1 {
			// Only an answer to a single NACK times the round trip (Karn).
			g.sample(now.Sub(m.sent))
		}
		r.kind, r.wants = arrivalRecovered, m.wants
		if m.tries == 0 {
			r.kind = arrivalReordered
		}
		g.missing = slices.Delete(g.missing, i, i+1)
	}
	g.due(now, r)
}

// due collects the NACKs to send now and gives up on the packets asked for
// maxNackTries times. Called with mu held.
func (g *nackGenerator) due(now time.Time, r *nackResult) {
	keep := g.missing[:0]
	for _, m := range g.missing {
		if int16(g.highest-m.seq) < 0 || int(uint16(g.highest-m.seq)) >= cacheSize {
			// Too old to be forwarded even if it came.
			r.lost = r.lost || len(m.wants) > 0
			continue
		}
		if now.Before(m.next) {
			keep = append(keep, m)
			continue
		}
		if m.tries >= maxNackTries {
			r.lost = r.lost || len(m.wants) > 0
			continue
		}
		if g.tokens < 1 {
			keep = append(keep, m) // over budget: later, or never
			continue
		}
		g.tokens--
		m.tries++
		m.sent, m.next = now, now.Add(g.spacing())
		r.nack = append(r.nack, m.seq)
		keep = append(keep, m)
	}
	clear(g.missing[len(keep):])
	g.missing = keep
}

// forget drops every missing packet. Called with mu held.
func (g *nackGenerator) forget(r *nackResult) {
	for _, m := range g.missing {
		r.lost = r.lost || len(m.wants) > 0
	}
	clear(g.missing)
	g.missing = g.missing[:0]
}

// await registers a subscriber's NACK for source packet seq, which the
// subscriber knows as out. It reports false when the SFU is not waiting for
// that packet itself (then it will not come).
func (g *nackGenerator) await(seq uint16, d *downTrack, out uint16) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	i := slices.IndexFunc(g.missing, func(m missingPacket) bool { return m.seq == seq })
	if i < 0 {
		return false
	}
	m := &g.missing[i]
	switch {
	case slices.Contains(m.wants, want{d, out}):
	case len(m.wants) >= maxWants:
		return false
	default:
		m.wants = append(m.wants, want{d, out})
	}
	return true
}

// sample folds one measured round trip into the estimate (RFC 6298 style
// smoothing, 1/8 gain). Called with mu held.
func (g *nackGenerator) sample(d time.Duration) {
	d = min(max(d, time.Millisecond), maxRTT)
	if g.rtt == 0 {
		g.rtt = d
		return
	}
	g.rtt += (d - g.rtt) / 8
}

// roundTrip is the estimate, or defaultRTT before the first measurement.
func (g *nackGenerator) roundTrip() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rttLocked()
}

func (g *nackGenerator) rttLocked() time.Duration {
	if g.rtt == 0 {
		return defaultRTT
	}
	return g.rtt
}

// spacing is the wait before asking again for a packet: a little more than a
// round trip, so that the answer to the last NACK has had time to come.
func (g *nackGenerator) spacing() time.Duration {
	return max(minNackSpacing, g.rttLocked()*5/4)
}

// nackPacket builds the feedback for a layer's missing packets.
func nackPacket(ssrc uint32, seqs []uint16) *rtcp.TransportLayerNack {
	return &rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}
}

// repair runs loss repair for one packet read from layer l, and reports
// whether the packet goes on to the sinks. A recovered packet does not: it
// goes to the cache and to the subscribers that NACKed it, so nobody gets a
// copy they did not ask for. A duplicate goes nowhere. A packet that merely
// overtook another (never NACKed) goes on like any other.
func (t *Track) repair(l *layer, pkt *rtp.Packet, r *nackResult) bool {
	if t.keyframe == nil || t.nack == nil {
		return true
	}
	stats := &t.owner.room.sfu.stats
	l.nack.received(pkt.SequenceNumber, time.Now(), r)
	if len(r.nack) > 0 {
		t.nack(nackPacket(l.ssrc, r.nack))
		stats.nacksSent.Add(uint64(len(r.nack)))
	}
	if r.lost {
		t.requestKeyframe(int(l.index.Load()))
	}
	switch r.kind {
	case arrivalRecovered:
		stats.recovered.Add(1)
		if !t.muted.Load() {
			l.each(pkt, l.cache.put)
			for _, w := range r.wants {
				w.d.retransmit([]uint16{w.out})
			}
		}
		return false
	case arrivalDuplicate:
		return false
	}
	return true // new or reordered: the sinks' copy answers any NACK for it too
}
