package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// clusterReport is one cascade measurement.
type clusterReport struct {
	flags     clusterFlags
	tier      int // top layer bits per second
	elapsed   time.Duration
	originCPU time.Duration
	pulls     []pullCounters // per edge, over the window
	groups    []groupWindow  // origin first, then per edge
	loss      edgeLoss
}

func (r *clusterReport) print(w io.Writer) {
	f := r.flags
	secs := r.elapsed.Seconds()
	fmt.Fprintf(w, "cascade: 1 origin + %d edges, one %s %s simulcast publisher (q %.2f, h %.2f, f %.2f Mbit/s) on the origin, %d WHEP viewers on the origin, %d on each edge (pinning in turn: %s); window %v\n\n",
		f.edges, f.codec, f.tier, float64(r.tier)/16e6, float64(r.tier)/4e6, float64(r.tier)/1e6, f.direct, f.subscribers, strings.Join(f.pins, ", "), r.elapsed.Round(time.Millisecond))
	fmt.Fprintln(w, "| edge | pulls open (q / h / f) | origin → edge, Mbit/s: q / h / f / audio | total |")
	fmt.Fprintln(w, "|---|--:|--:|--:|")
	for i, p := range r.pulls {
		mbit := func(layer string) float64 { return p.bytes[layer] * 8 / secs / 1e6 }
		total := mbit("q") + mbit("h") + mbit("f") + mbit("audio")
		fmt.Fprintf(w, "| edge %d | %.0f / %.0f / %.0f | %.2f / %.2f / %.2f / %.2f | %.2f |\n", i+1,
			p.pulls["q"], p.pulls["h"], p.pulls["f"], mbit("q"), mbit("h"), mbit("f"), mbit("audio"), total)
	}
	fmt.Fprintf(w, "\norigin CPU over the window: %.1f%% of one core\n\n", 100*r.originCPU.Seconds()/secs)
	fmt.Fprintln(w, "| viewers | count | packets | loss | layers q / h / f | delay p50 / p99 | added by the edge p50 / p99 |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|")
	base := r.groups[0].w.latency
	for _, g := range r.groups {
		lossPct := 0.0
		if g.w.expected > 0 {
			lossPct = 100 * float64(g.w.lost()) / float64(g.w.expected)
		}
		p50, p99 := g.w.latency.quantile(0.5), g.w.latency.quantile(0.99)
		added := "—"
		if g.name != r.groups[0].name {
			added = fmt.Sprintf("%s / %s", msOf(p50-base.quantile(0.5)), msOf(p99-base.quantile(0.99)))
		}
		fmt.Fprintf(w, "| %s | %d | %d | %.2f%% | %d / %d / %d | %s / %s | %s |\n", g.name, g.viewers, g.w.packets, lossPct,
			g.w.layers[0], g.w.layers[1], g.w.layers[2], msOf(p50), msOf(p99), added)
	}
	r.project(w)
	if !f.killEdge {
		return
	}
	back := slices.Clone(r.loss.back)
	slices.Sort(back)
	fmt.Fprintf(w, "\nedge 1 killed (SIGKILL): the other edges' viewers' longest gap %s; edge 1's %d viewers (watchdog %v) played again through edge 2 after p50 %s, max %s; %d did not within 10 s\n",
		msOf(r.loss.otherGap), len(r.loss.back)+r.loss.failed, f.watchdog, msOf(quantileOf(back, 0.5)), msOf(quantileOf(back, 1)), r.loss.failed)
}

// msOf formats d in milliseconds.
func msOf(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// project extends the measured figures to larger clusters (--simulate): one
// room owned by one node, the same audience per node on every node, every
// edge pulling what the measured edges pulled. The origin's egress is one
// pull set per edge plus its own viewers; an edge's is its viewers, its
// ingress one pull set. Without a cascade every viewer would be served by
// the origin.
func (r *clusterReport) project(w io.Writer) {
	if len(r.flags.simulate) == 0 || len(r.pulls) == 0 {
		return
	}
	secs := r.elapsed.Seconds()
	var pullSet float64 // Mbit/s one edge pulls
	for _, p := range r.pulls {
		for _, b := range p.bytes {
			pullSet += b * 8 / secs / 1e6
		}
	}
	pullSet /= float64(len(r.pulls))
	var bits float64 // received by the edges' viewers
	viewers := 0
	for _, g := range r.groups[1:] {
		bits += float64(g.bytes) * 8
		viewers += g.viewers
	}
	perViewer := 0.0 // Mbit/s per edge viewer, RTP as received
	if viewers > 0 {
		perViewer = bits / float64(viewers) / secs / 1e6
	}
	per := r.flags.subscribers
	fmt.Fprintf(w, "\nprojection from this run (one room; %d viewers on every node; one edge pulls %.2f Mbit/s; a viewer gets %.2f Mbit/s):\n\n", per, pullSet, perViewer)
	fmt.Fprintln(w, "| nodes | viewers | origin egress: pulls + own viewers | each edge: egress / ingress | origin egress without a cascade |")
	fmt.Fprintln(w, "|--:|--:|--:|--:|--:|")
	for _, n := range r.flags.simulate {
		pulls := float64(n-1) * pullSet
		own := float64(per) * perViewer
		fmt.Fprintf(w, "| %d | %d | %.0f + %.0f = %.0f Mbit/s | %.0f / %.1f Mbit/s | %.0f Mbit/s |\n", n, n*per, pulls, own, pulls+own,
			float64(per)*perViewer, pullSet, float64(n*per)*perViewer)
	}
}
