package hls

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// statsWindow is how many recent part delays stats keeps.
const statsWindow = 4096

// stats are the service's counters. Part delays are kept in a ring for
// quantiles (the benchmark and /metrics read them).
type stats struct {
	requests atomic.Uint64
	waiting  atomic.Int64
	peak     atomic.Int64

	mu     sync.Mutex
	delays []time.Duration
	next   int
	parts  uint64
}

// partDelay records the time from a part's last frame to its publication.
func (s *stats) partDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parts++
	if len(s.delays) < statsWindow {
		s.delays = append(s.delays, d)
		return
	}
	s.delays[s.next] = d
	s.next = (s.next + 1) % statsWindow
}

// Stats are the HLS service's running figures.
type Stats struct {
	// Requests counts HLS requests served; Waiting is the blocking requests
	// held now and WaitingPeak the most held at once.
	Requests    uint64
	Waiting     int64
	WaitingPeak int64
	// Parts counts parts published; PartDelayP50 and P99 are over the last
	// 4096 parts: from the arrival of a part's last frame to its playlist.
	Parts                      uint64
	PartDelayP50, PartDelayP99 time.Duration
}

func (s *stats) snapshot() Stats {
	st := Stats{Requests: s.requests.Load(), Waiting: s.waiting.Load(), WaitingPeak: s.peak.Load()}
	s.mu.Lock()
	d := slices.Clone(s.delays)
	st.Parts = s.parts
	s.mu.Unlock()
	if len(d) > 0 {
		slices.Sort(d)
		st.PartDelayP50 = d[len(d)/2]
		st.PartDelayP99 = d[min(len(d)-1, len(d)*99/100)]
	}
	return st
}

// hold counts a blocking request in; the returned func counts it out.
func (s *stats) hold() func() {
	n := s.waiting.Add(1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	return func() { s.waiting.Add(-1) }
}
