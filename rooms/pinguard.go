package rooms

import (
	"math"
	"sync"
	"time"
)

// PINGuardConfig sets how PIN joins are limited (docs/security.md "PIN
// guessing").
type PINGuardConfig struct {
	// FailuresPerAddr is how many wrong PINs one address may send for one
	// room per window; past it that address waits for that room only, so
	// typos in one room never block a shared NAT's joins to another.
	FailuresPerAddr int
	// FloodFailures is how many wrong PINs for one room, from all addresses
	// together, make a window a flood: the room's PIN checks are then metered
	// (FloodChecksPerSecond) and its moderators alerted.
	FloodFailures int
	// FloodChecksPerSecond is the rate of PIN checks a flooded room allows,
	// right or wrong: the most an attacker with any number of addresses can
	// try there.
	FloodChecksPerSecond float64
	// JoinsPerAddr is how many PIN joins one address may make per window,
	// right PINs included: each mints a new identity.
	JoinsPerAddr int
	// Window is the span over which failures and joins are counted, and the
	// quiet time after which a flood is over.
	Window time.Duration
}

// DefaultPINGuardConfig returns the defaults.
func DefaultPINGuardConfig() PINGuardConfig {
	return PINGuardConfig{FailuresPerAddr: 5, FloodFailures: 50, FloodChecksPerSecond: 1, JoinsPerAddr: 30, Window: time.Minute}
}

// Under a flood, an address that tried the room fewer than priorityTries
// times in the window may take the bucket's last check; others leave it, so
// that a guest who arrives during a flood of addresses that already tried
// gets in at the next check (the reserve).
const (
	priorityTries = 3
	floodBurst    = 2
)

// alertEvery bounds how often OnAlert reports a continuing flood.
const alertEvery = 5 * time.Second

// PINAlert says that a room's PINs are being guessed.
type PINAlert struct {
	// Room is the room's ID.
	Room string `json:"room"`
	// Since is when wrong PINs for the room passed the flood threshold.
	Since time.Time `json:"since"`
	// Failures counts the wrong PINs since the flood began (those of the
	// window that made it one included); Refused the tries refused unchecked.
	Failures int `json:"failures"`
	Refused  int `json:"refused"`
}

// PINGuard limits PIN joins: wrong PINs per (address, room), joins per
// address, and under a flood of wrong PINs for a room, the room's PIN checks
// (a token bucket). It never sees tokens: joins with a token are not its
// business. Its maps are owned by mu; OnAlert is called without it held.
type PINGuard struct {
	cfg PINGuardConfig
	now func() time.Time
	// OnAlert, when set before use, is told when a room's flood begins and
	// at most every alertEvery while it goes on. It must not block.
	OnAlert func(PINAlert)

	mu    sync.Mutex
	pairs map[string]*pairState
	rooms map[string]*floodState
	joins map[string][]time.Time
	// sweepAt is the map size past which expired entries are dropped; it
	// doubles with the live entries, so a sweep costs O(1) per insert.
	sweepAt int
}

// pairState is one address's recent PIN tries for one room.
type pairState struct {
	fails []time.Time
	// tries keeps the latest priorityTries tries, checked or refused.
	tries []time.Time
}

// floodState is a room's recent wrong PINs and, under a flood, its bucket.
type floodState struct {
	fails []time.Time
	// last is the latest wrong PIN or refused try: a flood ends a window after.
	last  time.Time
	alert *PINAlert
	// tokens is the bucket's content at refilled.
	tokens   float64
	refilled time.Time
	told     time.Time
}

// NewPINGuard builds a guard; now is the clock (time.Now).
func NewPINGuard(cfg PINGuardConfig, now func() time.Time) *PINGuard {
	return &PINGuard{cfg: cfg, now: now, pairs: map[string]*pairState{}, rooms: map[string]*floodState{},
		joins: map[string][]time.Time{}, sweepAt: sweepMin}
}

// sweepMin is the smallest map size at which expired entries are swept.
const sweepMin = 4096

// Admit says whether addr may have a PIN checked for room now. If not, it
// returns how long to wait and why: ErrTooManyJoins (the address's joins),
// ErrTooManyWrongPINs (its wrong PINs for this room) or ErrPINChecksMetered
// (the room is flooded and its checks are used up for now).
func (g *PINGuard) Admit(addr, room string) (time.Duration, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.sweep(now)
	if n := g.cfg.JoinsPerAddr; len(g.recentJoins(addr, now)) >= n {
		return g.joins[addr][len(g.joins[addr])-n].Add(g.cfg.Window).Sub(now), ErrTooManyJoins
	}
	p := g.pair(addr, room, now)
	if n := g.cfg.FailuresPerAddr; len(p.fails) >= n {
		return p.fails[len(p.fails)-n].Add(g.cfg.Window).Sub(now), ErrTooManyWrongPINs
	}
	priority := len(p.tries) < priorityTries
	p.tries = append(p.tries, now)
	if len(p.tries) > priorityTries {
		p.tries = p.tries[1:]
	}
	f := g.flood(room, now)
	if f == nil || f.alert == nil {
		return 0, nil
	}
	f.tokens = min(floodBurst, f.tokens+now.Sub(f.refilled).Seconds()*g.cfg.FloodChecksPerSecond)
	f.refilled = now
	need := 1.0
	if !priority {
		need = floodBurst
	}
	if f.tokens >= need {
		f.tokens--
		return 0, nil
	}
	f.alert.Refused++
	f.last = now
	wait := time.Duration((need - f.tokens) / g.cfg.FloodChecksPerSecond * float64(time.Second))
	return max(wait, time.Nanosecond), ErrPINChecksMetered
}

// Fail records a wrong PIN (or an unknown room) from addr for room.
func (g *PINGuard) Fail(addr, room string) {
	g.mu.Lock()
	now := g.now()
	g.sweep(now)
	p := g.pair(addr, room, now)
	p.fails = append(p.fails, now)
	f := g.flood(room, now)
	if f == nil {
		f = &floodState{}
		g.rooms[room] = f
	}
	f.last = now
	var tell *PINAlert
	if f.alert == nil {
		f.fails = append(f.fails, now)
		if len(f.fails) >= g.cfg.FloodFailures {
			f.alert = &PINAlert{Room: room, Since: now, Failures: len(f.fails)}
			f.fails, f.tokens, f.refilled = nil, 0, now
		}
	} else {
		f.alert.Failures++
	}
	if f.alert != nil && now.Sub(f.told) >= alertEvery {
		f.told = now
		a := *f.alert
		tell = &a
	}
	g.mu.Unlock()
	if tell != nil && g.OnAlert != nil {
		g.OnAlert(*tell)
	}
}

// Joined records a PIN join from addr (a right PIN: a new identity).
func (g *PINGuard) Joined(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.sweep(now)
	g.joins[addr] = append(g.recentJoins(addr, now), now)
}

// Alert returns the room's PIN alert while it is flooded.
func (g *PINGuard) Alert(room string) (PINAlert, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.flood(room, g.now())
	if f == nil || f.alert == nil {
		return PINAlert{}, false
	}
	return *f.alert, true
}

// GuessSeconds is the expected time, in seconds, to guess a PIN of digits
// decimal digits at the most the guard lets through for one room: the flood
// threshold per window, or the metered rate under a flood, whichever is more.
func (c PINGuardConfig) GuessSeconds(digits int) float64 {
	perSecond := max(c.FloodChecksPerSecond, float64(c.FloodFailures)/c.Window.Seconds())
	return math.Pow10(digits) / 2 / perSecond
}

// pair returns addr's state for room with its expired tries dropped,
// creating it.
func (g *PINGuard) pair(addr, room string, now time.Time) *pairState {
	key := addr + " " + room
	p := g.pairs[key]
	if p == nil {
		p = &pairState{}
		g.pairs[key] = p
	}
	p.fails = g.since(p.fails, now)
	p.tries = g.since(p.tries, now)
	return p
}

// flood returns the room's state with expired failures dropped, ending a
// flood that has been quiet for a window; nil if there is nothing to keep.
func (g *PINGuard) flood(room string, now time.Time) *floodState {
	f := g.rooms[room]
	if f == nil {
		return nil
	}
	if now.Sub(f.last) >= g.cfg.Window {
		delete(g.rooms, room)
		return nil
	}
	f.fails = g.since(f.fails, now)
	return f
}

func (g *PINGuard) recentJoins(addr string, now time.Time) []time.Time {
	j := g.since(g.joins[addr], now)
	if len(j) == 0 {
		delete(g.joins, addr)
		return nil
	}
	g.joins[addr] = j
	return j
}

// since drops the times that fell out of the window.
func (g *PINGuard) since(times []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(times) && now.Sub(times[i]) >= g.cfg.Window {
		i++
	}
	return times[i:]
}

// sweep drops expired entries once the maps have doubled since the last
// sweep, so a flood of addresses cannot grow them without bound.
func (g *PINGuard) sweep(now time.Time) {
	size := len(g.pairs) + len(g.rooms) + len(g.joins)
	if size <= g.sweepAt {
		return
	}
	for k, p := range g.pairs {
		if len(g.since(p.fails, now)) == 0 && len(g.since(p.tries, now)) == 0 {
			delete(g.pairs, k)
		}
	}
	for k := range g.rooms {
		g.flood(k, now)
	}
	for k := range g.joins {
		g.recentJoins(k, now)
	}
	g.sweepAt = max(sweepMin, 2*(len(g.pairs)+len(g.rooms)+len(g.joins)))
}
