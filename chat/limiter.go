package chat

import (
	"sync"
	"time"
)

// limiter keeps each sender's token bucket and last post in each room, for
// the rate limit and slow mode. Its mutex guards the map.
type limiter struct {
	rate  float64 // tokens per second
	burst float64

	mu        sync.Mutex
	senders   map[senderKey]*bucket
	lastSweep time.Time
}

type senderKey struct{ room, identity string }

type bucket struct {
	tokens   float64
	at       time.Time // when tokens was last computed
	lastPost time.Time
}

// sweepEvery and forgetAfter bound the map: idle senders' full buckets are
// dropped. forgetAfter exceeds the longest slow mode.
const (
	sweepEvery  = time.Minute
	forgetAfter = 2 * MaxSlowMode
)

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), senders: map[senderKey]*bucket{}}
}

// take lets a post by identity in room through at now, or says how long to
// wait: first for slow mode (slow after the later of lastPost and the
// sender's last post seen here), then for a token.
func (l *limiter) take(room, identity string, now time.Time, slow time.Duration, lastPost time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	k := senderKey{room, identity}
	b := l.senders[k]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.senders[k] = b
	}
	if b.lastPost.After(lastPost) {
		lastPost = b.lastPost
	}
	if slow > 0 && !lastPost.IsZero() {
		if wait := lastPost.Add(slow).Sub(now); wait > 0 {
			return &LimitError{Err: ErrSlowMode, RetryAfter: wait}
		}
	}
	b.refill(now, l.rate, l.burst)
	if b.tokens < 1 {
		wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
		return &LimitError{Err: ErrRateLimited, RetryAfter: wait}
	}
	b.tokens--
	b.lastPost = now
	return nil
}

func (b *bucket) refill(now time.Time, rate, burst float64) {
	if now.After(b.at) {
		b.tokens = min(burst, b.tokens+now.Sub(b.at).Seconds()*rate)
		b.at = now
	}
}

func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < sweepEvery {
		return
	}
	l.lastSweep = now
	for k, b := range l.senders {
		b.refill(now, l.rate, l.burst)
		if b.tokens >= l.burst && now.Sub(b.lastPost) > forgetAfter {
			delete(l.senders, k)
		}
	}
}

// size returns how many senders are tracked.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.senders)
}
