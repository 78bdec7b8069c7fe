package hls

import (
	"testing"
	"time"
)

// TestBlockingReady is RFC 8216bis section 6.2.5.2 on a playlist whose
// segments 10 and 11 are complete (4 parts each) and 12 is open with 2 parts.
func TestBlockingReady(t *testing.T) {
	parts := func(n int) []*part { return make([]*part, n) }
	s := &snapshot{segs: []segView{
		{msn: 10, parts: parts(4), complete: true, duration: time.Second},
		{msn: 11, parts: parts(4), complete: true, duration: time.Second},
		{msn: 12, parts: parts(2)},
	}, open: true}
	const limit = 15
	for _, c := range []struct {
		msn      uint64
		part     int
		ok, bad  bool
		describe string
	}{
		{11, -1, true, false, "a complete segment"},
		{12, -1, false, false, "the open segment is not complete"},
		{9, -1, true, false, "a segment no longer listed"},
		{12, 1, true, false, "a part that is there"},
		{12, 2, false, false, "the next part"},
		{11, 4, true, false, "past segment 11's last part is 12.0, which is there"},
		{13, 0, false, false, "the next segment's first part"},
		{14, -1, false, false, "two segments ahead waits"},
		{15, -1, false, true, "three segments ahead is refused"},
		{12, 1 + limit, false, false, "the advance part limit"},
		{12, 2 + limit, false, true, "past the advance part limit"},
		{13, limit + 1, false, true, "far into the next segment"},
	} {
		ok, bad := s.ready(c.msn, c.part, limit)
		if ok != c.ok || bad != c.bad {
			t.Errorf("%s (%d.%d): ready %v, bad %v", c.describe, c.msn, c.part, ok, bad)
		}
	}
	ended := &snapshot{segs: s.segs[:2], ended: true}
	if ok, bad := ended.ready(99, 3, limit); !ok || bad {
		t.Error("an ended playlist must answer any directive at once")
	}
	// Lookups of media: parts by their number through the stream (seg 10
	// has parts 0-3, 11 has 4-7, 12 has 8 and 9; 10 is the hinted next).
	n := uint64(0)
	for i := range s.segs {
		for k := range s.segs[i].parts {
			s.segs[i].parts[k] = &part{seq: n}
			n++
		}
	}
	s.nextPart = n
	for _, c := range []struct {
		n          uint64
		found, wai bool
	}{
		{0, true, false}, {5, true, false}, {9, true, false}, {10, false, true}, {11, false, false}, {1 << 63, false, false},
	} {
		p, wait := s.lookupPart(c.n)
		if (p != nil) != c.found || wait != c.wai || p != nil && p.seq != c.n {
			t.Errorf("lookupPart %d: %+v wait %v", c.n, p, wait)
		}
	}
	if p, wait := ended.lookupPart(8); p != nil || wait {
		t.Error("the hinted part of an ended playlist is waited for")
	}
	for _, c := range []struct {
		msn        uint64
		found, wai bool
	}{
		{11, true, false}, {12, false, true}, {13, false, false}, {9, false, false},
	} {
		g, wait := s.lookupSegment(c.msn)
		if (g != nil) != c.found || wait != c.wai {
			t.Errorf("lookupSegment %d: found %v wait %v", c.msn, g != nil, wait)
		}
	}
}

// TestBandwidthSpansShortSegments: a segment cut short at once (a keyframe
// and little else, as when a stream's audio arrives after its first
// keyframe) does not set BANDWIDTH alone: the peak is taken over spans of at
// least the segment duration, so it stays near the rendition's real rate and
// the variants keep their order.
func TestBandwidthSpansShortSegments(t *testing.T) {
	seg := func(kb int, d time.Duration) segView {
		return segView{complete: true, bytes: kb * 1000, duration: d}
	}
	s := &snapshot{segs: []segView{seg(60, 80*time.Millisecond), seg(100, time.Second), seg(120, time.Second), seg(10, 40*time.Millisecond)}}
	s.measure(time.Second)
	// Spans: 60+100 kB in 1.08 s (the peak), 100 kB in 1 s, 120 kB in 1 s,
	// 10+120 kB in 1.04 s; the short segment alone would read 6 Mbit/s.
	if want := int(float64(160_000*8) / (1080 * time.Millisecond).Seconds()); s.bandwidth != want {
		t.Errorf("BANDWIDTH %d b/s, want %d (160 kB in 1.08 s)", s.bandwidth, want)
	}
	if want := int(float64(290_000*8) / (2120 * time.Millisecond).Seconds()); s.average != want {
		t.Errorf("AVERAGE-BANDWIDTH %d b/s, want %d", s.average, want)
	}
}
