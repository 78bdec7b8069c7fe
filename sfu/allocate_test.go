package sfu

import (
	"slices"
	"testing"
	"time"
)

func TestAllocate(t *testing.T) {
	audio := func(order uint64) allocTrack {
		return allocTrack{priority: prioAudio, order: order, rates: []int64{40_000}}
	}
	sim := func(prio int, order uint64, maxLayer int) allocTrack {
		return allocTrack{priority: prio, order: order, rates: []int64{150_000, 500_000, 1_500_000}, maxLayer: maxLayer}
	}
	single := func(prio int, order uint64, rate int64) allocTrack {
		return allocTrack{priority: prio, order: order, rates: []int64{rate}}
	}
	cases := []struct {
		name   string
		budget int64
		tracks []allocTrack
		want   []int
		total  int64
		next   int64
	}{
		{"unknown budget: every track at its cap", 0,
			[]allocTrack{audio(1), sim(prioOther, 2, 2), sim(prioOther, 3, 1)}, []int{0, 2, 1}, 40_000 + 1_500_000 + 500_000, 0},
		{"plenty: top layers", 10_000_000,
			[]allocTrack{audio(1), sim(prioOther, 2, 2), sim(prioOther, 3, 2)}, []int{0, 2, 2}, 3_040_000, 0},
		{"one video, the top fits exactly", 1_540_000,
			[]allocTrack{audio(1), sim(prioOther, 2, 2)}, []int{0, 2}, 1_540_000, 0},
		{"one video, the middle fits", 1_000_000,
			[]allocTrack{audio(1), sim(prioOther, 2, 2)}, []int{0, 1}, 540_000, 1_540_000},
		{"the first video is never paused", 10_000,
			[]allocTrack{audio(1), sim(prioOther, 2, 2)}, []int{0, 0}, 190_000, 540_000},
		{"screen before camera, before others' order", 1_800_000,
			[]allocTrack{audio(1), sim(prioOther, 2, 2), sim(prioScreen, 9, 2)}, []int{0, 0, 2}, 40_000 + 150_000 + 1_500_000, 40_000 + 150_000 + 1_500_000 + 350_000},
		{"speaker before others", 900_000,
			[]allocTrack{sim(prioOther, 1, 2), sim(prioSpeaker, 5, 2)}, []int{0, 1}, 650_000, 650_000 + 1_000_000},
		{"lowest priorities pause when the lowest layers do not fit", 400_000,
			[]allocTrack{audio(1), sim(prioOther, 2, 2), sim(prioOther, 3, 2), sim(prioOther, 4, 2), sim(prioScreen, 5, 2)},
			[]int{0, 0, -1, -1, 0}, 340_000, 490_000},
		{"after a pause nothing lower is sent, even if smaller", 400_000,
			[]allocTrack{sim(prioOther, 1, 0), single(prioOther, 2, 300_000), single(prioOther, 3, 50_000)},
			[]int{0, -1, -1}, 150_000, 450_000},
		{"tile and manual caps", 10_000_000,
			[]allocTrack{sim(prioOther, 1, 0), sim(prioOther, 2, 1)}, []int{0, 1}, 650_000, 0},
		{"unmeasured layers cost the minimum", 100_000,
			[]allocTrack{{priority: prioOther, order: 1, rates: []int64{0, 0}, maxLayer: 1}}, []int{1}, 30_000, 0},
		{"audio only, over budget, still sent", 10_000,
			[]allocTrack{audio(1), audio(2)}, []int{0, 0}, 80_000, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := allocate(c.budget, c.tracks)
			if !slices.Equal(a.layers, c.want) {
				t.Errorf("layers %v, want %v", a.layers, c.want)
			}
			if a.total != c.total {
				t.Errorf("total %d, want %d", a.total, c.total)
			}
			if c.budget > 0 && a.next != c.next {
				t.Errorf("next %d, want %d", a.next, c.next)
			}
		})
	}
}

// TestAllocateNeverExceedsBudget checks the invariants over many budgets:
// whatever is sent beyond the first video's lowest layer fits, audio is never
// paused, and a paused video is never of higher priority than a sent one.
func TestAllocateNeverExceedsBudget(t *testing.T) {
	tracks := []allocTrack{
		{priority: prioAudio, order: 1, rates: []int64{40_000}},
		{priority: prioOther, order: 2, rates: []int64{150_000, 500_000, 1_500_000}, maxLayer: 2},
		{priority: prioSpeaker, order: 3, rates: []int64{100_000, 300_000, 900_000}, maxLayer: 2},
		{priority: prioOther, order: 4, rates: []int64{120_000, 400_000}, maxLayer: 1},
		{priority: prioScreen, order: 5, rates: []int64{800_000}},
	}
	for budget := int64(1); budget < 6_000_000; budget += 37_000 {
		a := allocate(budget, tracks)
		if a.layers[0] != 0 {
			t.Fatalf("budget %d: audio paused", budget)
		}
		if a.layers[4] < 0 {
			t.Fatalf("budget %d: the screen share, the first video, paused", budget)
		}
		if a.total > max(budget, 840_000) {
			t.Fatalf("budget %d: total %d", budget, a.total)
		}
		// Priority order of the videos: screen(4), speaker(2), other 2, other 3.
		order := []int{4, 2, 1, 3}
		for i := 1; i < len(order); i++ {
			if a.layers[order[i]] >= 0 && a.layers[order[i-1]] < 0 {
				t.Fatalf("budget %d: %v sends a lower priority while pausing a higher", budget, a.layers)
			}
		}
		if a.next != 0 && a.next <= a.total {
			t.Fatalf("budget %d: next %d not above total %d", budget, a.next, a.total)
		}
	}
}

func TestTileLayer(t *testing.T) {
	cases := []struct{ n, top, h, want int }{
		{3, 720, 0, 2},    // unknown size: top
		{3, 720, 180, 0},  // 180p tile: q
		{3, 720, 190, 0},  // within a tenth of 180
		{3, 720, 200, 1},  // a 200-pixel tile: h
		{3, 720, 360, 1},  // h
		{3, 720, 400, 2},  // f
		{3, 720, 2000, 2}, // bigger than any: top
		{1, 720, 100, 0},  // one layer
		{2, 720, 300, 0},  // two layers: 360, 720
		{2, 720, 500, 1},
	}
	for _, c := range cases {
		if got := tileLayer(c.n, c.top, c.h); got != c.want {
			t.Errorf("tileLayer(%d, %d, %d) = %d, want %d", c.n, c.top, c.h, got, c.want)
		}
	}
}

// TestUpgradesHold: the allocator moves a track down at once and up only once
// it has chosen the higher layer for upgradeHold (a wish that lapses for a
// tick keeps its place; one that lapses for half the hold starts again); a
// paused video resumes the same way, the speaker's at once.
func TestUpgradesHold(t *testing.T) {
	d := &downTrack{current: 1, target: 1}
	now := time.Now()
	if got := d.steady(0, false, now); got != 0 {
		t.Fatalf("down from 1 to 0: applied %d", got)
	}
	d.target = 0
	// run feeds one allocation a tick and returns what was applied at each.
	run := func(wants ...int) []int {
		var got []int
		for _, w := range wants {
			got = append(got, d.steady(w, false, now))
			now = now.Add(allocateEvery)
		}
		return got
	}
	// Up: held for upgradeHold (4 ticks), then taken.
	if got := run(2, 2, 2, 2, 2); !slices.Equal(got, []int{0, 0, 0, 0, 2}) {
		t.Errorf("a steady wish: applied %v, want the move on the fifth tick", got)
	}
	d.target = 0
	now = now.Add(upgradeHold)
	// A wish lapsing for one tick keeps its place.
	if got := run(1, 1, 0, 1, 1); !slices.Equal(got, []int{0, 0, 0, 0, 1}) {
		t.Errorf("a wish lapsing for a tick: applied %v, want the move on the fifth tick", got)
	}
	d.target = 0
	now = now.Add(upgradeHold)
	// One lapsing for longer starts again.
	if got := run(1, 1, 0, 0, 0, 1, 1, 1, 1, 1); !slices.Equal(got, []int{0, 0, 0, 0, 0, 0, 0, 0, 0, 1}) {
		t.Errorf("a wish lapsing for three ticks: applied %v, want the hold to start again", got)
	}
	d.target = 1
	d.bwPaused.Store(true)
	now = now.Add(upgradeHold)
	if got := d.steady(0, false, now); got != -1 {
		t.Errorf("a paused video resumed at once: %d", got)
	}
	if got := run(0, 0, 0, 0, 0); got[4] != 0 || got[3] != -1 {
		t.Errorf("a paused video resumed %v, want on the fifth tick", got)
	}
	// The active speaker's paused video resumes at once, then climbs after the hold.
	if got := d.steady(0, true, now); got != 0 {
		t.Errorf("the speaker's paused video held: %d", got)
	}
	d.bwPaused.Store(false)
	d.target, d.upSince = 0, time.Time{}
	now = now.Add(upgradeHold)
	if got := d.steady(2, true, now); got != 0 {
		t.Errorf("the speaker's layer went up at once: %d", got)
	}
}

// TestFailedUpgradesBackOff: an upgrade taken back within failedUpgrade
// doubles the hold for the next (1, 2, then 4 s at most), so that a track
// whose higher layer does not fit stops switching every few seconds; after
// calmAfter without a move down the hold is upgradeHold again.
func TestFailedUpgradesBackOff(t *testing.T) {
	d := &downTrack{current: 0, target: 0}
	now := time.Now()
	// upTo waits, one allocation a tick, until the track moves to layer and
	// returns how long that took.
	upTo := func(layer int) time.Duration {
		t.Helper()
		start := now
		for range 100 {
			got := d.steady(layer, false, now)
			now = now.Add(allocateEvery)
			if got == layer {
				d.target = layer
				return now.Sub(start)
			}
		}
		t.Fatal("never moved up")
		return 0
	}
	up := func() time.Duration { return upTo(1) }
	down := func(after time.Duration) {
		now = now.Add(after)
		if got := d.steady(0, false, now); got != 0 {
			t.Fatalf("down: applied %d", got)
		}
		d.target = 0
	}
	var waits []time.Duration
	for range 5 {
		waits = append(waits, up())
		down(2 * time.Second) // the higher layer did not fit
	}
	want := []time.Duration{upgradeHold, 2 * upgradeHold, maxUpgradeHold, maxUpgradeHold, maxUpgradeHold}
	for i := range want {
		// The move comes on the tick after the hold has passed.
		if waits[i] < want[i] || waits[i] > want[i]+2*allocateEvery {
			t.Errorf("upgrade %d waited %v, want %v (all: %v)", i, waits[i], want[i], waits)
		}
	}
	// An upgrade that holds past failedUpgrade halves the hold for the next.
	waits = waits[:0]
	waits = append(waits, up())
	now = now.Add(failedUpgrade)
	waits = append(waits, upTo(2))
	if waits[0] < maxUpgradeHold || waits[1] > maxUpgradeHold/2+2*allocateEvery {
		t.Errorf("after the backoff: waited %v for layer 1, then (it held) %v for layer 2; want %v, then %v", waits[0], waits[1], maxUpgradeHold, maxUpgradeHold/2)
	}
	down(time.Second)
	d.target = 0
	if got := d.steady(0, false, now); got != 0 {
		t.Fatalf("down to 0: applied %d", got)
	}
	// A calm spell brings the hold back.
	now = now.Add(calmAfter)
	if w := up(); w > upgradeHold+2*allocateEvery {
		t.Errorf("after %v without a move down the upgrade waited %v, want %v", calmAfter, w, upgradeHold)
	}
	down(failedUpgrade + time.Second)
	if w := up(); w > upgradeHold+2*allocateEvery {
		t.Errorf("after an upgrade that held, the next waited %v, want %v", w, upgradeHold)
	}
}

// TestSmallDownsHold: a track that the allocation puts a little below its
// layer (keeping it costs at most half again the budget) keeps the layer for
// downHold, with its cost in the total and no probe; a large fall, heavy loss
// or a wish that ends moves it at once or starts the hold again.
func TestSmallDownsHold(t *testing.T) {
	tracks := []allocTrack{
		{priority: prioAudio, rates: []int64{50_000}},
		{priority: prioOther, rates: []int64{150_000, 500_000, 2_500_000}, maxLayer: 2},
	}
	audio, video := &downTrack{}, &downTrack{current: 2, target: 2}
	audio.pin.Store(-1)
	video.pin.Store(-1)
	downs := []*downTrack{audio, video}
	now := time.Now()
	step := func(budget int64, heavy bool) allocation {
		a := holdDowns(allocate(budget, tracks), budget, tracks, downs, heavy, now)
		video.target = max(a.layers[1], 0)
		now = now.Add(allocateEvery)
		return a
	}
	// GCC's answer to a moment's queue: 85% of what arrived.
	small := int64(2_550_000) * 85 / 100
	a := step(small, false)
	if a.layers[1] != 2 || a.total != 2_550_000 || a.next != 0 {
		t.Fatalf("a small fall: layers %v, total %d, next %d; want the top layer kept, total 2550000, no probe", a.layers, a.total, a.next)
	}
	held := allocateEvery
	for a.layers[1] == 2 && held < 2*downHold {
		a = step(small, false)
		held += allocateEvery
	}
	if held != downHold+allocateEvery || a.layers[1] != 1 {
		t.Errorf("a small fall that lasts: moved to %d after %v, want layer 1 after %v", a.layers[1], held, downHold)
	}
	// Back up; then a small fall that ends within the hold keeps the layer,
	// and the next one is held afresh.
	video.target = 2
	step(3_000_000, false)
	for range 4 {
		if a = step(small, false); a.layers[1] != 2 {
			t.Fatalf("a short small fall moved the track to %d", a.layers[1])
		}
	}
	step(3_000_000, false)
	for range 4 {
		if a = step(small, false); a.layers[1] != 2 {
			t.Fatalf("a second short small fall moved the track to %d", a.layers[1])
		}
	}
	// A large fall, or heavy loss, moves down at once.
	step(3_000_000, false)
	if a = step(1_000_000, false); a.layers[1] != 1 {
		t.Errorf("a fall to 1 Mbit/s: layer %d, want 1 at once", a.layers[1])
	}
	video.target = 2
	step(3_000_000, false)
	if a = step(small, true); a.layers[1] != 1 {
		t.Errorf("a small fall with heavy loss: layer %d, want 1 at once", a.layers[1])
	}
}
