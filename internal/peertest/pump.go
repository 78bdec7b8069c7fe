package peertest

import (
	"testing"
	"time"
)

// Tick calls fn every d with the tick's number, from 0, until stop is
// closed: the pacing of a synthetic media source. Run it in a goroutine the
// test waits for, or use Pump.
func Tick(stop <-chan struct{}, d time.Duration, fn func(i int)) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		fn(i)
	}
}

// Pump runs Tick in a goroutine until the test ends, and waits for it then.
// Register it after the peers whose tracks fn writes to, so that it stops
// before they close.
func Pump(t testing.TB, d time.Duration, fn func(i int)) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		Tick(stop, d, fn)
	}()
	t.Cleanup(func() { close(stop); <-done })
}
