package interop

import (
	"fmt"
	"sync"
	"time"
)

// timeline is how far a player has played, as the player itself shows it
// (its video element's currentTime, or its decoded frames as seconds at the
// publisher's frame rate), with the time each advance was seen. A player
// that starts over (a page that restarts its player) is counted on from
// where it starts again.
type timeline struct {
	name string

	mu     sync.Mutex
	last   float64 // the latest reading
	seen   bool
	played float64 // media seconds played, summed over advances
	points []advance
	ended  string // why the player stopped, if it did
	state  string // the page's state, if it has one
	states []stateAt
	notes  []stateAt // what the player reported beside its position, when it changed
}

type advance struct {
	played float64
	at     time.Time
}

type stateAt struct {
	state string
	at    time.Time
}

func newTimeline(name string) *timeline { return &timeline{name: name} }

// read takes a reading of the player's position in media seconds.
func (l *timeline) read(pos float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen && pos > l.last {
		l.played += pos - l.last
		l.points = append(l.points, advance{l.played, time.Now()})
	}
	l.last, l.seen = pos, true
}

// setState records the page's state when it changes.
func (l *timeline) setState(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s != l.state {
		l.state = s
		l.states = append(l.states, stateAt{s, time.Now()})
	}
}

// note records what the player reports beside its position (its buffered
// ranges, say) when it changes, to explain a stall.
func (l *timeline) note(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.notes); n > 0 && l.notes[n-1].state == s {
		return
	}
	if len(l.notes) >= 400 {
		l.notes = l.notes[1:]
	}
	l.notes = append(l.notes, stateAt{s, time.Now()})
}

// notesSince lists the notes from t0 on, one a line, relative to t0.
func (l *timeline) notesSince(t0 time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := ""
	for _, n := range l.notes {
		if !n.at.Before(t0) {
			out += fmt.Sprintf("\n  %+.2fs %s", n.at.Sub(t0).Seconds(), n.state)
		}
	}
	return out
}

// end records that the player stopped by itself, and why.
func (l *timeline) end(why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended == "" {
		l.ended = why
	}
}

// playedSince is how many media seconds the player played after t0.
func (l *timeline) playedSince(t0 time.Time) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	before := 0.0
	for _, p := range l.points {
		if p.at.Before(t0) {
			before = p.played
		}
	}
	return l.played - before
}

// stallSince is the longest time between t0 and until in which the player
// did not advance (until the first advance after t0, between two advances,
// and from the last advance to until), and when the last advance was.
func (l *timeline) stallSince(t0, until time.Time) (longest time.Duration, lastAdvance time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	prev := t0
	for _, p := range l.points {
		if p.at.Before(t0) || p.at.After(until) {
			continue
		}
		longest = max(longest, p.at.Sub(prev))
		prev = p.at
	}
	return max(longest, until.Sub(prev)), prev
}

// statesSince lists the page's states from t0 on with when each began,
// relative to t0.
func (l *timeline) statesSince(t0 time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := ""
	for i, s := range l.states {
		if i+1 < len(l.states) && l.states[i+1].at.Before(t0) {
			continue
		}
		out += fmt.Sprintf(" %s@%+.1fs", s.state, s.at.Sub(t0).Seconds())
	}
	return out
}

// timeInStateSince is how long the page has spent in state since t0, up to until.
func (l *timeline) timeInStateSince(state string, t0, until time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var total time.Duration
	for i, s := range l.states {
		end := until
		if i+1 < len(l.states) {
			end = l.states[i+1].at
		}
		start := s.at
		if start.Before(t0) {
			start = t0
		}
		if s.state == state && end.After(start) {
			total += end.Sub(start)
		}
	}
	return total
}

// stopped is why the player stopped by itself, or "".
func (l *timeline) stopped() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ended
}
