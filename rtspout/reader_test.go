package rtspout

import "testing"

// TestClock: a reader's timestamps follow program time at a fixed offset,
// wrap around 2^32 like RTP's, and at a new start never go back, even when
// program time does (a program that starts again from a preroll); its
// sequence numbers come one per packet from a random start.
func TestClock(t *testing.T) {
	var c clock
	first := c.timestamp(1000, true, 3000)
	if got := c.timestamp(4000, false, 3000); got != first+3000 {
		t.Errorf("a frame 3000 ticks later is stamped %d, want %d", got, first+3000)
	}
	// Program time steps back at a new start: the stamp goes one step on.
	if got := c.timestamp(2000, true, 3000); got != first+6000 {
		t.Errorf("a restart at an earlier program time is stamped %d, want %d", got, first+6000)
	}
	if got := c.timestamp(5000, false, 3000); got != first+9000 {
		t.Errorf("after the restart, %d; want %d", got, first+9000)
	}
	// Program time going on after a gap keeps the gap (the stamps follow the clock).
	if got := c.timestamp(95000, true, 3000); got != first+99000 {
		t.Errorf("a restart later in program time is stamped %d, want %d", got, first+99000)
	}
	// Around the wrap of 32 bits.
	c = clock{set: true, offset: 1<<32 - 10 - 100, last: 1<<32 - 10 - 1}
	if got := c.timestamp(100, false, 1); got != 1<<32-10 {
		t.Errorf("before the wrap: %d", got)
	}
	if got := c.timestamp(120, true, 1); got != 10 {
		t.Errorf("across the wrap: %d, want 10", got)
	}
}
