package sfu

import (
	"cmp"
	"slices"
)

// Sharing one subscriber's bandwidth estimate among its tracks.

// Priorities, highest first.
const (
	prioAudio = iota
	prioScreen
	prioSpeaker
	prioOther
)

// minVideoRate is the rate assumed for a video layer that has not been measured yet.
const minVideoRate = 30_000

// allocTrack is what the allocator knows of one subscribed track.
type allocTrack struct {
	priority int
	// order breaks ties: earlier published first.
	order uint64
	// rates are the layers' bitrates in bits per second, lowest layer first.
	rates []int64
	// maxLayer is the highest layer the track may have: the tier, a manual
	// choice and the rendered size each cap it.
	maxLayer int
}

// rate is layer l's bitrate as the allocator counts it (0 for -1, paused).
func (t *allocTrack) rate(l int) int64 {
	if l < 0 || l >= len(t.rates) {
		return 0
	}
	return max(t.rates[l], minVideoRate)
}

// allocation is the allocator's answer: a layer per track (-1: paused), in the
// order given.
type allocation struct {
	layers []int
	// total is the bitrate of the chosen layers.
	total int64
	// next is the budget the next upgrade needs (0: every track is at its
	// maxLayer): what a probe should try.
	next int64
}

// allocate shares budget (bits per second; 0 or less: unknown, no limit)
// among tracks: audio first, then screen shares, then the active speaker,
// then the others, earlier publications first. Every video first gets its
// lowest layer while it fits; when one does not, it and every video after it
// pause (the first video is never paused: something must carry the picture
// whatever the estimate). Then each video in priority order climbs to the
// highest layer up to its maxLayer that still fits.
func allocate(budget int64, tracks []allocTrack) allocation {
	a := allocation{layers: make([]int, len(tracks))}
	idx := make([]int, len(tracks))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int {
		tx, ty := &tracks[x], &tracks[y]
		return cmp.Or(cmp.Compare(tx.priority, ty.priority), cmp.Compare(tx.order, ty.order))
	})
	rate := (*allocTrack).rate
	top := func(t *allocTrack) int { return min(max(t.maxLayer, 0), len(t.rates)-1) }
	if budget <= 0 {
		for _, i := range idx {
			t := &tracks[i]
			a.layers[i] = max(top(t), 0)
			a.total += rate(t, a.layers[i])
		}
		return a
	}
	left := budget
	// Audio is never paused.
	for _, i := range idx {
		t := &tracks[i]
		if t.priority == prioAudio {
			a.layers[i] = 0
			if len(t.rates) > 0 {
				left -= t.rates[0]
			}
		}
	}
	// Lowest layers, in priority order, until one does not fit.
	first, full := true, false
	for _, i := range idx {
		t := &tracks[i]
		if t.priority == prioAudio {
			continue
		}
		r := rate(t, 0)
		if full || (!first && r > left) {
			if !full {
				a.next = budget - left + r
			}
			full = true
			a.layers[i] = -1
			continue
		}
		first = false
		a.layers[i] = 0
		left -= r
	}
	// Upgrades, in priority order.
	for _, i := range idx {
		t := &tracks[i]
		if t.priority == prioAudio || a.layers[i] < 0 {
			continue
		}
		cur := a.layers[i]
		for l := top(t); l > cur; l-- {
			if extra := rate(t, l) - rate(t, cur); extra <= left {
				left -= extra
				a.layers[i] = l
				break
			}
		}
		if a.next == 0 && a.layers[i] < top(t) {
			a.next = budget - left + rate(t, a.layers[i]+1) - rate(t, a.layers[i])
		}
	}
	a.total = budget - left
	return a
}

// tileLayer is the lowest of n layers whose height covers a tile h pixels
// high, the top layer being topHeight high and each lower one half as high
// (the simulcast encodings browsers send). h of 0 or less means unknown: the top.
func tileLayer(n, topHeight, h int) int {
	if n <= 1 || h <= 0 || topHeight <= 0 {
		return max(n-1, 0)
	}
	for l := range n {
		height := topHeight >> (n - 1 - l)
		// A tile up to a tenth taller than the layer still looks sharp enough.
		if height*11/10 >= h {
			return l
		}
	}
	return n - 1
}
