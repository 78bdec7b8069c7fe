package rooms

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// fakeClock is a settable clock for the guard.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestGuard() (*PINGuard, *fakeClock, *[]PINAlert) {
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	g := NewPINGuard(DefaultPINGuardConfig(), clock.now)
	var told []PINAlert
	g.OnAlert = func(a PINAlert) { told = append(told, a) }
	return g, clock, &told
}

func TestPINGuardLimitsWrongPINsPerAddressAndRoom(t *testing.T) {
	g, clock, _ := newTestGuard()
	for i := range 5 {
		if wait, err := g.Admit("nat", "a"); err != nil {
			t.Fatalf("try %d: %v (%v)", i, err, wait)
		}
		g.Fail("nat", "a")
		clock.t = clock.t.Add(time.Second)
	}
	wait, err := g.Admit("nat", "a")
	if !errors.Is(err, ErrTooManyWrongPINs) || wait != 55*time.Second {
		t.Errorf("sixth try in room a: %v, wait %v; want ErrTooManyWrongPINs, 55s", err, wait)
	}
	// The same address (a shared NAT) joins another room.
	if wait, err := g.Admit("nat", "b"); err != nil {
		t.Errorf("room b from the same address: %v (%v)", err, wait)
	}
	clock.t = clock.t.Add(55 * time.Second)
	if _, err := g.Admit("nat", "a"); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

func TestPINGuardMetersAFloodedRoom(t *testing.T) {
	g, clock, told := newTestGuard()
	cfg := DefaultPINGuardConfig()
	// 49 wrong PINs from 49 addresses: no flood yet.
	for i := range cfg.FloodFailures - 1 {
		addr := fmt.Sprintf("10.0.0.%d", i)
		if _, err := g.Admit(addr, "r"); err != nil {
			t.Fatal(err)
		}
		g.Fail(addr, "r")
	}
	if _, ok := g.Alert("r"); ok || len(*told) != 0 {
		t.Fatalf("alert before the threshold: %v", *told)
	}
	g.Fail("10.0.1.0", "r")
	a, ok := g.Alert("r")
	if !ok || a.Failures != cfg.FloodFailures || !a.Since.Equal(clock.t) || len(*told) != 1 {
		t.Fatalf("alert at the threshold: %+v %v, told %v", a, ok, *told)
	}
	// A minute of attack from 1,000 addresses, each trying every 10 ms in
	// turn: the room's checks are capped at the metered rate.
	admitted := 0
	for step := range 6000 {
		clock.t = clock.t.Add(10 * time.Millisecond)
		addr := fmt.Sprintf("10.1.%d.%d", step%1000/250, step%250)
		if _, err := g.Admit(addr, "r"); err == nil {
			admitted++
			g.Fail(addr, "r")
		} else if !errors.Is(err, ErrPINChecksMetered) && !errors.Is(err, ErrTooManyWrongPINs) {
			t.Fatalf("step %d: %v", step, err)
		}
	}
	if limit := int(60*cfg.FloodChecksPerSecond) + floodBurst; admitted > limit || admitted < limit/2 {
		t.Errorf("attacker checks in a minute: %d, want at most %d (and the meter running)", admitted, limit)
	}
	if n := len(*told); n < 10 || n > 13 {
		t.Errorf("%d alerts in a minute, want one per %v", n, alertEvery)
	}
	// A guest from a new address gets the reserved check within a second
	// even though the attack goes on.
	clock.t = clock.t.Add(time.Second)
	if wait, err := g.Admit("192.0.2.1", "r"); err != nil {
		t.Errorf("guest during the flood: %v, wait %v", err, wait)
	}
	a, _ = g.Alert("r")
	if a.Failures != cfg.FloodFailures+admitted || a.Refused == 0 {
		t.Errorf("alert counts %+v, admitted %d", a, admitted)
	}
	// A quiet minute ends the flood.
	clock.t = clock.t.Add(time.Minute)
	if _, ok := g.Alert("r"); ok {
		t.Error("alert after a quiet minute")
	}
	if _, err := g.Admit("10.1.0.1", "r"); err != nil {
		t.Errorf("after the flood: %v", err)
	}
}

func TestPINGuardLimitsJoinsPerAddress(t *testing.T) {
	g, clock, _ := newTestGuard()
	for range DefaultPINGuardConfig().JoinsPerAddr {
		if _, err := g.Admit("bot", "r"); err != nil {
			t.Fatal(err)
		}
		g.Joined("bot")
	}
	if wait, err := g.Admit("bot", "other"); !errors.Is(err, ErrTooManyJoins) || wait != time.Minute {
		t.Errorf("join past the limit: %v, wait %v", err, wait)
	}
	if _, err := g.Admit("guest", "r"); err != nil {
		t.Errorf("another address: %v", err)
	}
	clock.t = clock.t.Add(time.Minute)
	if _, err := g.Admit("bot", "r"); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

func TestPINGuessingCostAboveAMonth(t *testing.T) {
	cfg := DefaultPINGuardConfig()
	month := (30 * 24 * time.Hour).Seconds()
	// docs/security.md "PIN guessing": 10-digit speaker PIN, 8-digit audience PIN.
	if s := cfg.GuessSeconds(10); s < month*12 {
		t.Errorf("speaker PIN: %.0f s expected", s)
	}
	if s := cfg.GuessSeconds(8); s < month {
		t.Errorf("audience PIN: %.0f s expected", s)
	}
	// The most the configuration allows (api.Config.Validate) keeps the
	// speaker PIN above a month.
	cfg.FloodChecksPerSecond, cfg.FloodFailures = 100, 6000
	if s := cfg.GuessSeconds(10); s < month {
		t.Errorf("speaker PIN at the configurable maximum: %.0f s expected", s)
	}
}

func TestPINGuardMapsStayBounded(t *testing.T) {
	g, clock, _ := newTestGuard()
	for i := range 20_000 {
		addr := fmt.Sprintf("a%d", i)
		g.Admit(addr, "r")
		g.Fail(addr, fmt.Sprintf("room%d", i))
		clock.t = clock.t.Add(10 * time.Millisecond)
	}
	// 20,000 tries 10 ms apart: about 6,000 are inside the window.
	if n := len(g.pairs); n > 4*6000 {
		t.Errorf("%d pairs kept", n)
	}
	if n := len(g.rooms); n > 4*6000 {
		t.Errorf("%d rooms kept", n)
	}
}
