package storage_test

import (
	"sync"
	"time"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	// Not on a millisecond boundary, and not UTC: what is stored must be
	// truncated and converted anyway.
	return &fakeClock{t: time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("X", 3600))}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// stored returns what the store makes of t.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }
