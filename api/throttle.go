package api

import (
	"sync"
	"time"
)

// sweepAbove is the number of tracked keys past which expired ones are dropped,
// so a flood of addresses cannot grow the maps without bound.
const sweepAbove = 4096

// joinThrottle limits wrong PINs per client address and per room in a sliding
// window. Its maps are owned by mu.
type joinThrottle struct {
	perAddr, perRoom int
	window           time.Duration
	now              func() time.Time

	mu   sync.Mutex
	addr map[string][]time.Time
	room map[string][]time.Time
}

func newJoinThrottle(perAddr, perRoom int, window time.Duration, now func() time.Time) *joinThrottle {
	return &joinThrottle{
		perAddr: perAddr, perRoom: perRoom, window: window, now: now,
		addr: make(map[string][]time.Time), room: make(map[string][]time.Time),
	}
}

// retryAfter returns how long addr must wait before trying room again, or 0.
func (t *joinThrottle) retryAfter(addr, room string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	return max(t.wait(t.addr, addr, t.perAddr, now), t.wait(t.room, room, t.perRoom, now))
}

// fail records one wrong PIN from addr for room.
func (t *joinThrottle) fail(addr, room string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.record(t.addr, addr, now)
	t.record(t.room, room, now)
}

func (t *joinThrottle) wait(m map[string][]time.Time, key string, limit int, now time.Time) time.Duration {
	times := t.prune(m, key, now)
	if len(times) < limit {
		return 0
	}
	return times[len(times)-limit].Add(t.window).Sub(now)
}

func (t *joinThrottle) record(m map[string][]time.Time, key string, now time.Time) {
	if len(m) > sweepAbove {
		for k := range m {
			t.prune(m, k, now)
		}
	}
	m[key] = append(t.prune(m, key, now), now)
}

// prune drops the times of key that fell out of the window.
func (t *joinThrottle) prune(m map[string][]time.Time, key string, now time.Time) []time.Time {
	times := m[key]
	i := 0
	for i < len(times) && now.Sub(times[i]) >= t.window {
		i++
	}
	times = times[i:]
	if len(times) == 0 {
		delete(m, key)
		return nil
	}
	m[key] = times
	return times
}
