package sfu

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

const (
	// maxQueueDelay is how long a packet may wait in a subscriber's send queue:
	// older ones are dropped (the subscriber's NACK or a keyframe repairs the
	// picture) rather than delivered seconds late.
	maxQueueDelay = 150 * time.Millisecond
	// sendQueueLen bounds a subscriber's queue: about a second of HD video;
	// a packet arriving at a full queue pushes out the oldest.
	sendQueueLen = 512
	// paceBurst is how much sending time a quiet queue may save up.
	paceBurst = 10 * time.Millisecond
	// paceFactor paces at this multiple of the bandwidth estimate, as
	// libwebrtc does (2.5), so frames leave smoothly but never much later.
	paceFactor = 2.5
	// minPaceRate is the lowest pacing rate, in bits per second, whatever the
	// estimate: pacing smooths bursts; the allocator keeps media under the estimate.
	minPaceRate = 1_000_000
	// drainMargin is kept between a queue's last packet leaving and the
	// oldest one's age limit: above the pacing rate, a burst (a keyframe of a
	// few hundred kilobits) goes out fast enough to leave before
	// maxQueueDelay rather than be dropped, which would break the very frame
	// that repairs the picture. Only a subscriber whose sending cannot keep
	// up loses packets for age.
	drainMargin = maxQueueDelay / 6
	// packetOverhead is the bytes of SRTP, UDP and IP a packet costs on the
	// wire beyond its RTP payload and header, roughly.
	packetOverhead = 40
)

// outPacket is one packet waiting to be sent to a subscriber.
type outPacket struct {
	d       *downTrack
	b       *binding
	hdr     rtp.Header
	buf     *[]byte // pooled; payload is (*buf)[:n]
	n       int
	at      time.Time
	padding bool
}

var payloadPool = sync.Pool{New: func() any { b := make([]byte, 0, 1500); return &b }}

// sendQueue is one subscriber's paced, bounded send queue. The publishers'
// reader goroutines push; the queue's own goroutine (run) encrypts and sends,
// so each subscriber's sending runs on its own goroutine, on any core, and a
// slow subscriber only delays itself. The ring is guarded by mu.
type sendQueue struct {
	wake chan struct{}
	stop chan struct{}
	// rate is the pacing rate in bits per second; 0 sends unpaced.
	rate atomic.Int64
	// dropped counts packets dropped for age or a full queue; sent counts
	// packets and bytes written (media, padding included).
	dropped, sent, sentBytes atomic.Uint64
	// drops, if set, counts the drops of every queue (the SFU's total).
	drops *atomic.Uint64

	mu      sync.Mutex
	ring    [sendQueueLen]outPacket
	head, n int
	// bits is what the queued packets take on the wire.
	bits int
}

func newSendQueue() *sendQueue {
	return &sendQueue{wake: make(chan struct{}, 1), stop: make(chan struct{})}
}

// push queues a copy of payload with header h for d. It never blocks.
func (q *sendQueue) push(d *downTrack, b *binding, h *rtp.Header, payload []byte, padding bool) {
	buf := payloadPool.Get().(*[]byte)
	*buf = append((*buf)[:0], payload...)
	q.mu.Lock()
	if q.n == sendQueueLen {
		old := &q.ring[q.head]
		q.bits -= wireBits(old.n)
		q.release(old)
		q.head = (q.head + 1) % sendQueueLen
		q.n--
		q.drop()
	}
	q.ring[(q.head+q.n)%sendQueueLen] = outPacket{d: d, b: b, hdr: *h, buf: buf, n: len(payload), at: time.Now(), padding: padding}
	q.n++
	q.bits += wireBits(len(payload))
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// drop counts one dropped packet.
func (q *sendQueue) drop() {
	q.dropped.Add(1)
	if q.drops != nil {
		q.drops.Add(1)
	}
}

// release returns a packet's buffer to the pool. Called with mu held or on a popped copy.
func (q *sendQueue) release(p *outPacket) {
	if p.buf != nil {
		payloadPool.Put(p.buf)
	}
	*p = outPacket{}
}

// wireBits is what a packet of n payload bytes takes on the wire, roughly.
func wireBits(n int) int { return (n + 12 + packetOverhead) * 8 }

// pop takes the oldest packet and returns what was queued with it, in bits.
func (q *sendQueue) pop() (outPacket, int, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return outPacket{}, 0, false
	}
	queued := q.bits
	p := q.ring[q.head]
	q.ring[q.head] = outPacket{}
	q.head = (q.head + 1) % sendQueueLen
	q.n--
	q.bits -= wireBits(p.n)
	return p, queued, true
}

// behind reports whether the queue's oldest packet has waited a third of
// maxQueueDelay: the subscriber's sending is not keeping up, and resending
// lost packets would only add to what will be dropped.
func (q *sendQueue) behind() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n > 0 && time.Since(q.ring[q.head].at) > maxQueueDelay/3
}

// len is the number of packets waiting.
func (q *sendQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// setRate sets the pacing rate from a bandwidth estimate in bits per second.
func (q *sendQueue) setRate(estimate int64) {
	if estimate <= 0 {
		q.rate.Store(0)
		return
	}
	q.rate.Store(max(int64(float64(estimate)*paceFactor), minPaceRate))
}

// run sends until stop is closed. tick, if not nil, runs on the queue's
// goroutine (the subscriber's allocator and prober) and returns when it wants
// to run next; it runs on time even while the queue is busy.
func (q *sendQueue) run(tick func() time.Duration) {
	timer := time.NewTimer(allocateEvery)
	defer timer.Stop()
	ticked := func() {
		next := allocateEvery
		if tick != nil {
			next = tick()
		}
		timer.Reset(next)
	}
	// budget is the sending time saved up, in bits.
	var budget float64
	last := time.Now()
	for {
		select {
		case <-q.stop:
			q.drain()
			return
		case <-timer.C:
			ticked()
			continue
		case <-q.wake:
		}
		for {
			select {
			case <-q.stop:
				q.drain()
				return
			case <-timer.C:
				ticked()
			default:
			}
			p, queued, ok := q.pop()
			if !ok {
				break
			}
			now := time.Now()
			if now.Sub(p.at) > maxQueueDelay {
				q.drop()
				if !p.padding {
					p.d.unrepairable()
				}
				q.release(&p)
				continue
			}
			if rate := float64(q.rate.Load()); rate > 0 {
				// Faster when what is queued could not otherwise leave before
				// the oldest packet's age limit.
				window := max(maxQueueDelay-now.Sub(p.at)-drainMargin, 5*time.Millisecond)
				rate = max(rate, float64(queued)/window.Seconds())
				budget = min(budget+now.Sub(last).Seconds()*rate, paceBurst.Seconds()*rate)
				last = now
				if budget < 0 {
					wait := time.NewTimer(time.Duration(-budget / rate * float64(time.Second)))
					select {
					case <-q.stop:
						wait.Stop()
						q.release(&p)
						q.drain()
						return
					case <-wait.C:
					}
					// A timer that fired late leaves credit: the rate holds.
					after := time.Now()
					budget = min(budget+after.Sub(last).Seconds()*rate, paceBurst.Seconds()*rate)
					last = after
				}
				budget -= float64(wireBits(p.n))
			} else {
				budget, last = 0, now
			}
			if _, err := p.b.write.WriteRTP(&p.hdr, (*p.buf)[:p.n]); err != nil {
				if p.d != nil {
					p.d.sendError()
				}
			} else {
				q.sent.Add(1)
				q.sentBytes.Add(uint64(p.n + p.hdr.MarshalSize()))
			}
			q.release(&p)
		}
	}
}

// drain drops whatever is queued.
func (q *sendQueue) drain() {
	for {
		p, _, ok := q.pop()
		if !ok {
			return
		}
		q.release(&p)
	}
}
