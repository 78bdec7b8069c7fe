package program

import (
	"testing"
	"time"
)

// TestFollowSpeaker: the loudest participant takes over after a second of
// being the loudest, not sooner than two seconds after the last change, and
// silence or noise below -50 dBov changes nothing.
func TestFollowSpeaker(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	var s speaker
	step := func(ms int, lv map[string]int) { s.update(lv, t0.Add(time.Duration(ms)*time.Millisecond)) }
	loud, quiet, noise := 100, 60, 20
	for ms := 0; ms <= 900; ms += 100 {
		step(ms, map[string]int{"ann": loud, "bob": quiet})
	}
	if s.current != "" {
		t.Fatalf("speaker after 0.9 s: %q", s.current)
	}
	step(1000, map[string]int{"ann": loud, "bob": quiet})
	if s.current != "ann" {
		t.Fatalf("speaker after 1 s of ann: %q", s.current)
	}
	// Bob speaks up: a second later he is loudest for long enough, but the
	// turn lasts two seconds.
	for ms := 1100; ms <= 2900; ms += 100 {
		step(ms, map[string]int{"ann": quiet, "bob": loud})
		if s.current != "ann" {
			t.Fatalf("bob took over at %d ms, within ann's turn", ms)
		}
	}
	step(3000, map[string]int{"ann": quiet, "bob": loud})
	if s.current != "bob" {
		t.Fatalf("speaker at 3 s: %q, want bob", s.current)
	}
	// Only noise: nobody takes over.
	for ms := 3100; ms <= 9000; ms += 100 {
		step(ms, map[string]int{"ann": noise, "bob": noise + 1})
	}
	if s.current != "bob" {
		t.Errorf("noise changed the speaker to %q", s.current)
	}
	// A blip of loudness shorter than a second does not either.
	for ms := 9100; ms <= 9500; ms += 100 {
		step(ms, map[string]int{"ann": loud})
	}
	step(9600, map[string]int{"ann": noise})
	step(10600, map[string]int{"ann": loud})
	if s.current != "bob" {
		t.Errorf("half a second of ann made her the speaker")
	}
}
