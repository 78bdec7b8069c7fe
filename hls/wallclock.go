package hls

import (
	"time"

	"lectern/program"
)

// onWallClock returns f with its decode time moved onto the wall clock: the
// stream's first frame is placed at the time it was received, counted from
// the Unix epoch in its clock's ticks, and every later frame by the same
// shift. The media timeline of a stream then goes on from that of the
// room's earlier stream, on this node or on one that died, with a gap the
// length of the outage: a player reloading its media playlist through a
// failover appends the new stream's segments after what it has (a hole it
// skips), not over its start, and the timestamps agree with
// EXT-X-PROGRAM-DATE-TIME. f itself is not changed: other consumers share it.
func (st *stream) onWallClock(f *program.Frame) *program.Frame {
	if f.Codec == nil || f.Codec.ClockRate <= 0 {
		return f
	}
	if !st.shifted {
		at := f.Received
		if at.IsZero() {
			at = time.Now()
		}
		st.shifted = true
		st.shift = at.Sub(time.Unix(0, 0)) - program.Duration(f.DTS, f.Codec.ClockRate)
	}
	g := *f
	g.DTS += ticks(st.shift, f.Codec.ClockRate)
	return &g
}

// ticks is d in ticks of clock, without overflow for decades since 1970.
func ticks(d time.Duration, clock int) int64 {
	return int64(d/time.Second)*int64(clock) + int64(d%time.Second)*int64(clock)/int64(time.Second)
}
