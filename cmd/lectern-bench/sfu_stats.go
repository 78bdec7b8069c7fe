package main

import (
	"math/bits"
	"slices"
	"sync"
	"time"
)

// benchEpoch is the origin of the clock the jitter estimators use, so that
// float64 keeps sub-sample precision.
var benchEpoch = time.Now()

// clockUnits is t in units of an RTP clock since benchEpoch.
func clockUnits(t time.Time, rate float64) float64 { return t.Sub(benchEpoch).Seconds() * rate }

// seqWindow is how far back duplicates are recognized, in packets.
const seqWindow = 2048

// streamStats measures one received RTP stream: loss from sequence numbers
// (RFC 3550 appendix A.3), the interarrival jitter estimate (section 6.4.1 and
// appendix A.8), delivery latency from the publisher's stamps, and the
// simulcast layer the packets came from. Its reader updates it; mu guards it.
type streamStats struct {
	video bool
	clock float64
	ssrc  uint32

	mu      sync.Mutex
	started bool
	highest uint64 // extended highest sequence number
	seen    [seqWindow / 64]uint64
	jitter  float64 // in clock units
	transit float64
	// timed is set once transit holds a previous packet's value.
	timed bool
	w     streamWindow
	base  uint64 // highest at the start of the window
}

// streamWindow is what one or more streams received in the measurement window.
type streamWindow struct {
	packets   uint64 // every packet, duplicates included
	unique    uint64
	expected  uint64 // sequence numbers the window spanned
	dups      uint64 // a sequence number already received (a NACK answered twice)
	reordered uint64 // arrived after a later sequence number: retransmissions fill gaps so
	jitterSum float64
	jitterN   uint64
	latency   latencyHistogram
	layers    [4]uint64
}

func (w *streamWindow) add(o streamWindow) {
	w.packets += o.packets
	w.unique += o.unique
	w.expected += o.expected
	w.dups += o.dups
	w.reordered += o.reordered
	w.jitterSum += o.jitterSum
	w.jitterN += o.jitterN
	w.latency.add(&o.latency)
	for i := range w.layers {
		w.layers[i] += o.layers[i]
	}
}

// lost is how many sequence numbers of the window never arrived.
func (w *streamWindow) lost() uint64 {
	if w.unique >= w.expected {
		return 0
	}
	return w.expected - w.unique
}

// meanJitter is the mean of the jitter estimate over the window's packets, in seconds.
func (w *streamWindow) meanJitter() float64 {
	if w.jitterN == 0 {
		return 0
	}
	return w.jitterSum / float64(w.jitterN)
}

// packet records one arrival.
func (st *streamStats) packet(seq uint16, ts uint32, payload []byte, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.w.packets++
	if !st.started {
		st.started = true
		st.highest = 1<<16 + uint64(seq) // room below for late packets
		st.base = st.highest - 1
		st.mark(st.highest)
		st.w.unique++
	} else {
		ext := extend(st.highest, seq)
		switch {
		case ext > st.highest:
			for s := st.highest + 1; s < ext && s+seqWindow > ext; s++ {
				st.clear(s)
			}
			st.highest = ext
			st.mark(ext)
			st.w.unique++
		case ext+seqWindow <= st.highest:
			st.w.reordered++ // too old to tell; counts neither way
		case st.marked(ext):
			st.w.dups++
			return
		default:
			st.mark(ext)
			st.w.unique++
			st.w.reordered++
		}
	}
	// Jitter (RFC 3550 section 6.4.1): D is the difference in relative transit times.
	transit := clockUnits(now, st.clock) - float64(ts)
	if st.timed {
		d := transit - st.transit
		if d < 0 {
			d = -d
		}
		st.jitter += (d - st.jitter) / 16
		st.w.jitterSum += st.jitter / st.clock
		st.w.jitterN++
	}
	st.transit, st.timed = transit, true
	if layer, at, ok := readStamp(payload); ok {
		st.w.latency.record(now.Sub(at))
		st.w.layers[min(layer, len(st.w.layers)-1)]++
	}
}

// extend returns the extended sequence number of seq nearest to highest.
func extend(highest uint64, seq uint16) uint64 {
	ext := highest&^0xffff | uint64(seq)
	switch {
	case ext+1<<15 < highest:
		ext += 1 << 16
	case ext > highest+1<<15 && ext >= 1<<16:
		ext -= 1 << 16
	}
	return ext
}

func (st *streamStats) mark(s uint64)        { st.seen[s/64%(seqWindow/64)] |= 1 << (s % 64) }
func (st *streamStats) clear(s uint64)       { st.seen[s/64%(seqWindow/64)] &^= 1 << (s % 64) }
func (st *streamStats) marked(s uint64) bool { return st.seen[s/64%(seqWindow/64)]&(1<<(s%64)) != 0 }

// reset starts a new window at the current highest sequence number.
func (st *streamStats) reset() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.w = streamWindow{}
	st.base = st.highest
}

func (st *streamStats) snapshot() streamWindow {
	st.mu.Lock()
	defer st.mu.Unlock()
	w := st.w
	if st.started {
		w.expected = st.highest - st.base
	}
	return w
}

// latencyHistogram counts durations in buckets about 12% wide: a power of two of
// microseconds split in eight.
type latencyHistogram struct {
	counts [64 * 8]uint64
	n      uint64
}

func (h *latencyHistogram) record(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	h.counts[bucketOf(us)]++
	h.n++
}

func bucketOf(us uint64) int {
	if us < 8 {
		return int(us)
	}
	e := bits.Len64(us) - 1 // us in [2^e, 2^(e+1))
	return e*8 + int(us>>(e-3)&7)
}

// bucketTop is the largest value in bucket b, in microseconds.
func bucketTop(b int) uint64 {
	if b < 24 { // below 8 µs, one bucket per microsecond; 8 to 23 are unused
		return uint64(min(b, 7))
	}
	e, sub := b/8, uint64(b%8)
	return (8+sub+1)<<(e-3) - 1
}

func (h *latencyHistogram) add(o *latencyHistogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h *latencyHistogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			return time.Duration(bucketTop(i)) * time.Microsecond
		}
	}
	return time.Duration(bucketTop(len(h.counts)-1)) * time.Microsecond
}

// quantileOf returns the q quantile of v (nearest rank), sorting v.
func quantileOf[T int64 | float64 | time.Duration](v []T, q float64) T {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[min(len(v)-1, int(q*float64(len(v))))]
}
