package sfu

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/rtcp"
)

// Send-side bandwidth estimation for one subscriber connection (the
// transport-wide congestion control of draft-holmer-rmcat-transport-wide-cc-
// extensions-01): pion's interceptors number every packet and pion's GCC
// (delay-based, draft-ietf-rmcat-gcc-02 section 5) reads the subscriber's
// feedback. On top of its delay-based rate this adds a loss-based cap that
// backs off only above 10% loss (GCC's threshold, section 6: random loss of a
// few percent is not congestion) and probe results, which lift the estimate at
// once instead of GCC's 8% a second. Clients without TWCC are steered by their
// REMB.

const (
	// initialEstimate is the estimate a connection starts with, in bits per second.
	initialEstimate = 1_500_000
	// minEstimate is the least estimate used: below it GCC only echoes a
	// momentary low sending rate (its decrease is 85% of what was received),
	// and every subscriber can take an audio stream and a thumbnail.
	minEstimate = 150_000
	// lossBackoff is the loss fraction above which the loss-based cap falls.
	lossBackoff = 0.10
	// lossCutEvery is the least time between two cuts of the loss-based cap.
	lossCutEvery = 500 * time.Millisecond
	// lossGrowth is how much the loss-based cap grows per update without heavy loss.
	lossGrowth = 1.05
	// lossWindow is how many packets' fates a loss fraction is taken over, or
	// lossWindowMin if lossWindowMax passes first: 5% random loss over 200
	// packets reads as over 10% about once in a thousand windows, over the
	// 15 or 60 packets of one allocator round (360p or 720p) one in five
	// or seven, which cut the estimate and failed every probe.
	lossWindow    = 200
	lossWindowMin = 100
	lossWindowMax = 2 * time.Second
)

// estimator is one subscriber connection's bandwidth estimate. pion's cc
// interceptor owns gcc (created when the connection is built); the feedback
// flags are atomics; the combined state is guarded by mu and updated by the
// subscriber's allocator.
type estimator struct {
	gcc      atomic.Pointer[gcc.SendSideBWE]
	twccSeen atomic.Bool
	// remb is the subscriber's last REMB, in bits per second (0: none).
	remb atomic.Int64
	// last is the last estimate returned, for metrics and tests.
	last atomic.Int64
	// lost and reported count packets in TWCC feedback since the last estimate.
	lost, reported atomic.Int64
	// probeLost and probeReported count the same since the probe began.
	probeLost, probeReported atomic.Int64

	mu sync.Mutex
	// lossCap is the loss-based limit; probed is the rate a probe carried
	// without congestion, cleared by the first sign of congestion.
	lossCap, probed int64
	lastDelay       int64
	lastUsage       string
	// meter is the loss fraction over windows of feedback.
	meter lossMeter
	// lastCut is when the loss-based cap last fell.
	lastCut time.Time
}

// newGCC is the cc interceptor's estimator factory: called once as the
// connection's interceptors are built.
func (e *estimator) newGCC() (*ccEstimator, error) {
	g, err := gcc.NewSendSideBWE(gcc.SendSideBWEInitialBitrate(initialEstimate), gcc.SendSideBWEPacer(gcc.NewNoOpPacer()), gcc.SendSideBWEMinBitrate(50_000))
	if err != nil {
		return nil, err
	}
	e.gcc.Store(g)
	return &ccEstimator{SendSideBWE: g, e: e}, nil
}

// ccEstimator is pion's GCC that also notes that TWCC feedback arrives.
type ccEstimator struct {
	*gcc.SendSideBWE
	e *estimator
}

// WriteRTCP passes feedback to GCC and counts the packets it reports lost.
func (c *ccEstimator) WriteRTCP(pkts []rtcp.Packet, a interceptor.Attributes) error {
	for _, p := range pkts {
		if fb, ok := p.(*rtcp.TransportLayerCC); ok {
			c.e.twccSeen.Store(true)
			lost, total := twccLoss(fb)
			c.e.lost.Add(int64(lost))
			c.e.reported.Add(int64(total))
			c.e.probeLost.Add(int64(lost))
			c.e.probeReported.Add(int64(total))
		}
	}
	return c.SendSideBWE.WriteRTCP(pkts, a)
}

// twccLoss counts the packets a transport-wide feedback reports on and those
// it reports not received (draft-holmer-rmcat-transport-wide-cc-extensions-01
// section 3.1). pion's GCC counts its own way: a status vector chunk's
// symbols past the packet status count, and packets it no longer remembers
// sending, count as lost there, which reads a few percent of real loss as
// more than half.
func twccLoss(fb *rtcp.TransportLayerCC) (lost, total int) {
	n := int(fb.PacketStatusCount)
	for _, c := range fb.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			k := min(int(c.RunLength), n-total)
			if c.PacketStatusSymbol == rtcp.TypeTCCPacketNotReceived {
				lost += k
			}
			total += k
		case *rtcp.StatusVectorChunk:
			for _, sym := range c.SymbolList {
				if total >= n {
					break
				}
				if sym == rtcp.TypeTCCPacketNotReceived {
					lost++
				}
				total++
			}
		}
	}
	return lost, total
}

// estimate returns the connection's estimate in bits per second and whether
// it is congested now (its delay detector sees overuse or heavy loss); 0 means
// none yet. It is meant to be called about every allocateEvery.
func (e *estimator) estimate() (bps int64, congested bool) {
	g := e.gcc.Load()
	if g == nil || !e.twccSeen.Load() {
		bps = e.remb.Load()
		e.last.Store(bps)
		return bps, false
	}
	stats := g.GetStats()
	delay, _ := stats["delayTargetBitrate"].(int)
	usage, _ := stats["usage"].(string)
	lost, reported := e.lost.Swap(0), e.reported.Swap(0)
	e.mu.Lock()
	defer e.mu.Unlock()
	loss, fresh := e.meter.add(lost, reported, time.Now())
	if delay <= 0 {
		delay = initialEstimate
	}
	d := int64(delay)
	if e.lossCap == 0 {
		e.lossCap = max(d, initialEstimate)
	}
	overuse := usage == "overuse"
	congested = overuse || loss > lossBackoff
	if overuse || (e.lastDelay > 0 && d < e.lastDelay*9/10) {
		// GCC has backed off: what a probe found no longer holds.
		e.probed = 0
	}
	switch {
	case loss > lossBackoff && fresh && time.Since(e.lastCut) >= lossCutEvery:
		// One cut per window of feedback, and feedback lags: at most one
		// per lossCutEvery, as GCC waits for its last decrease to show
		// before the next.
		e.lossCap = int64(float64(min(e.lossCap, max(d, e.probed))) * (1 - 0.5*loss))
		e.probed, e.lastCut = 0, time.Now()
	case loss > lossBackoff:
		e.probed = 0
	default:
		e.lossCap = min(int64(float64(e.lossCap)*lossGrowth), math.MaxInt32)
	}
	e.lastDelay, e.lastUsage = d, usage
	e.lossCap = max(e.lossCap, 50_000)
	bps = max(min(max(d, e.probed), e.lossCap), minEstimate)
	e.last.Store(bps)
	return bps, congested
}

// heavyLoss reports whether the smoothed loss is above lossBackoff.
func (e *estimator) heavyLoss() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.meter.loss > lossBackoff
}

// lossMeter turns transport-wide feedback's counts into a smoothed loss
// fraction, taken over windows of lossWindow packets. A window closes early
// when its losses alone are over lossBackoff of a whole window (heavy loss
// is acted on at once), or after lossWindowMax with lossWindowMin packets
// (a low-rate connection).
type lossMeter struct {
	lost, reported int64
	since          time.Time
	// loss is the smoothed fraction lost over the last windows.
	loss float64
}

// add counts reported packets, lost of them, and returns the loss fraction
// and whether a window closed with this call.
func (m *lossMeter) add(lost, reported int64, now time.Time) (loss float64, fresh bool) {
	if m.since.IsZero() {
		m.since = now
	}
	m.lost += lost
	m.reported += reported
	full := m.reported >= lossWindow || float64(m.lost) > lossBackoff*lossWindow ||
		(m.reported >= lossWindowMin && now.Sub(m.since) >= lossWindowMax)
	if full && m.reported > 0 {
		m.loss = 0.5*m.loss + 0.5*float64(m.lost)/float64(m.reported)
		m.lost, m.reported, m.since = 0, 0, now
		return m.loss, true
	}
	return m.loss, false
}

// probeLossMin and probeLossMax: a probe that lost more than probeLossMax of
// at least probeLossMin packets reported since it began failed. The loss meter
// waits for windows of lossWindow packets, longer than a probe on a slow link:
// a probe at 0.55 Mbit/s on the netlab's 400 kbit/s link (27% of its packets
// dropped) ended as a success before the meter read it, and the layer it
// allowed stalled the picture for 3 s each time. 5% random loss reads as over
// 12% of 100 packets about once in 500 probes.
const (
	probeLossMin = 100
	probeLossMax = 0.12
)

// startProbe starts counting the feedback of a probe.
func (e *estimator) startProbe() {
	e.probeLost.Store(0)
	e.probeReported.Store(0)
}

// probeLossy reports whether the probe under way has lost too much.
func (e *estimator) probeLossy() bool {
	lost, reported := e.probeLost.Load(), e.probeReported.Load()
	return reported >= probeLossMin && float64(lost) > probeLossMax*float64(reported)
}

// probeSucceeded raises the estimate to rate: a probe at that rate saw no
// congestion.
func (e *estimator) probeSucceeded(rate int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.probed = max(e.probed, rate)
	e.lossCap = max(e.lossCap, rate)
}

// probeState drives probing for one subscriber: when the allocation wants more
// than the estimate, padding raises the sending rate to the next step for
// probeLength; if the estimator saw no congestion meanwhile the step is taken.
// Failed probes back off up to maxProbeGap. Owned by the allocator's goroutine.
type probeState struct {
	rate  int64 // the rate being probed, 0 when not probing
	until time.Time
	next  time.Time
	gap   time.Duration
}

const (
	probeLength = time.Second
	minProbeGap = 1500 * time.Millisecond
	maxProbeGap = 4 * time.Second
)
