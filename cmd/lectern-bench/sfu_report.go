package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sfuResult is one measurement window.
type sfuResult struct {
	f            sfuFlags
	window       time.Duration
	subscribers  int
	joinFailures int

	sent, keyframes uint64
	pacingJitterSum float64
	pacingJitterN   uint64

	forwarded uint64
	total     streamWindow
	jitters   []float64 // mean jitter per subscriber, seconds
	joins     []time.Duration
	connects  []time.Duration // dial to connected, per subscriber

	server, bench             time.Duration
	machineBusy, machineTotal time.Duration
	cpus                      int
	rcvbufErrors              uint64
	sndbufErrors              uint64
	serverDrops, benchDrops   uint64
	counters                  sfuMetrics
}

// sfuTableHeader is the table's head; docs/benchmarks.md gathers rows of several runs under it.
const sfuTableHeader = "| rooms × publishers × subscribers | video | window | packets sent | packets forwarded | loss | late / duplicate | jitter p50 / max | delivery p50 / p99 | first frame p50 / p99 | server CPU | bench CPU | machine busy | server CPU per forwarded packet |\n" +
	"|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"

func (r *sfuResult) print(w io.Writer) {
	f := r.f
	video := fmt.Sprintf("%s %s %.1f Mbit/s", f.codec, f.tier, float64(tiers[f.tier].bitrate)/1e6)
	if f.simulcast {
		video += " simulcast q/h/f"
	}
	peers := fmt.Sprintf("%d × %d × %d", f.rooms, f.publishers, f.subscribers)
	if r.joinFailures > 0 {
		peers += fmt.Sprintf(" (%d failed to join)", r.joinFailures)
	}
	secs := r.window.Seconds()
	lossPct := 0.0
	if r.total.expected > 0 {
		lossPct = 100 * float64(r.total.lost()) / float64(r.total.expected)
	}
	perPacket := 0.0
	if r.forwarded > 0 {
		perPacket = float64(r.server.Nanoseconds()) / 1000 / float64(r.forwarded)
	}
	busy := 0.0
	if r.machineTotal > 0 {
		busy = 100 * r.machineBusy.Seconds() / r.machineTotal.Seconds()
	}
	jitters := slices.Clone(r.jitters)
	io.WriteString(w, sfuTableHeader)
	fmt.Fprintf(w, "| %s | %s | %.0f s | %d | %d | %.3f %% | %d / %d | %s / %s ms | %s / %s ms | %s / %s ms (%d of %d) | %.0f %% of a core | %.0f %% of a core | %.0f %% | %.2f µs |\n",
		peers, video, secs, r.sent, r.forwarded, lossPct, r.total.reordered, r.total.dups,
		ms(quantileOf(jitters, 0.5)), ms(slices.Max(append(jitters, 0))),
		ms(r.total.latency.quantile(0.5).Seconds()), ms(r.total.latency.quantile(0.99).Seconds()),
		ms(quantileOf(slices.Clone(r.joins), 0.5).Seconds()), ms(quantileOf(slices.Clone(r.joins), 0.99).Seconds()), len(r.joins), r.subscribers+r.joinFailures,
		100*r.server.Seconds()/secs, 100*r.bench.Seconds()/secs, busy, perPacket)
	fmt.Fprintln(w)
	pacing := 0.0
	if r.pacingJitterN > 0 {
		pacing = r.pacingJitterSum / float64(r.pacingJitterN)
	}
	others := (r.machineBusy - r.server - r.bench).Seconds() / secs
	fmt.Fprintf(w, "- machine: %d CPUs %.0f %% busy; other processes used %.0f %% of a core\n", r.cpus, busy, 100*max(others, 0))
	fmt.Fprintf(w, "- lost %d of %d packets expected; the publishers' pacer alone accounts for %s ms of jitter (the same estimator on send times); %d keyframes sent\n",
		r.total.lost(), r.total.expected, ms(pacing), r.keyframes)
	if len(r.joins) > 0 {
		fmt.Fprintf(w, "- join: the subscriber connection was up (signaling, ICE, DTLS) after %s / %s ms (p50 / p99); the rest of the first-frame time is waiting for a keyframe\n",
			ms(quantileOf(slices.Clone(r.connects), 0.5).Seconds()), ms(quantileOf(slices.Clone(r.connects), 0.99).Seconds()))
	}
	layers := make([]string, 0, 3)
	for i, n := range r.total.layers[:3] {
		if n > 0 || f.simulcast {
			layers = append(layers, fmt.Sprintf("%s %d", [3]string{"q", "h", "f"}[i], n))
		}
	}
	if f.simulcast {
		fmt.Fprintf(w, "- stamped packets received per simulcast layer: %s\n", strings.Join(layers, ", "))
	}
	fmt.Fprintf(w, "- UDP datagrams the kernel dropped for full receive buffers in the window: %d at the server's sockets, %d at the bench's (%d receive-buffer and %d send-buffer errors machine-wide)\n",
		r.serverDrops, r.benchDrops, r.rcvbufErrors, r.sndbufErrors)
	if in, ok := r.counters["lectern_sfu_received_packets_total"]; ok && r.sent > 0 {
		fmt.Fprintf(w, "- the server's track readers took in %.0f of the %d packets the publishers sent in the window", in, r.sent)
		if behind := float64(r.sent) - in; behind > float64(r.sent)/100 {
			fmt.Fprintf(w, ": they fell %.0f packets further behind, queued in pion's receive buffers or dropped there", behind)
		}
		fmt.Fprintln(w)
	}
	if len(r.counters) > 0 {
		names := make([]string, 0, len(r.counters))
		for n := range r.counters {
			names = append(names, n)
		}
		slices.Sort(names)
		for i, n := range names {
			names[i] = fmt.Sprintf("%s %g", strings.TrimSuffix(strings.TrimPrefix(n, "lectern_sfu_"), "_total"), r.counters[n])
		}
		fmt.Fprintf(w, "- server counters in the window: %s\n", strings.Join(names, ", "))
	}
}

// ms formats seconds as milliseconds with two significant decimals.
func ms(seconds float64) string {
	v := seconds * 1000
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// sfuMetrics are the server's lectern_sfu_*_total counters, by name.
type sfuMetrics map[string]float64

// scrapeSFUMetrics reads the counters from /metrics; a server without them gives none.
func scrapeSFUMetrics(ctx context.Context, base string) sfuMetrics {
	m := sfuMetrics{}
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	if err != nil {
		return m
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return m
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, "lectern_sfu_") || !strings.HasSuffix(name, "_total") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			m[name] = v
		}
	}
	return m
}

func (m sfuMetrics) minus(before sfuMetrics) sfuMetrics {
	out := sfuMetrics{}
	for n, v := range m {
		out[n] = v - before[n]
	}
	return out
}
