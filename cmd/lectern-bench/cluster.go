package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func init() { subcommands["cluster"] = runCluster }

// clusterFlags configure the cascade measurement.
type clusterFlags struct {
	serverBin   string
	databaseURL string
	edges       int
	subscribers int
	direct      int
	tier        string
	codec       string
	settle      time.Duration
	duration    time.Duration
	killEdge    bool
	watchdog    time.Duration
	// pins are the layers edge viewers pin, in turn ("auto": none).
	pins []string
	// simulate are cluster sizes to project the measured egress to.
	simulate []int
}

// runCluster measures a WebRTC audience across nodes (a cascade): one origin
// node and --edges edge nodes, real lectern processes on one PostgreSQL; one
// simulcast publisher on the origin; --direct WHEP viewers on the origin (the
// baseline) and --subscribers on each edge, which the edge serves from the
// layers it pulls once from the origin. It reports, per edge, what the
// origin sent it (the edge's lectern_cascade_pulled_bytes_total, per layer)
// and its open pulls; per group of viewers the delay from the publisher's
// stamp to arrival (p50/p99) and loss; the delay an edge adds (edge minus
// direct); and, with --kill-edge, what losing an edge (SIGKILL) costs: the
// other edges' viewers' longest gap, and how long the lost edge's viewers
// take to play again through another edge (a player's watchdog of
// --watchdog, then a new WHEP session).
func runCluster(ctx context.Context, args []string, out io.Writer) error {
	var f clusterFlags
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.StringVar(&f.serverBin, "server-bin", "", "lectern binary to start (required; go build -o /tmp/lectern ./cmd/lectern)")
	fs.StringVar(&f.databaseURL, "database-url", os.Getenv("LECTERN_TEST_DATABASE_URL"), "PostgreSQL URL the nodes share (default $LECTERN_TEST_DATABASE_URL); use a database of its own")
	fs.IntVar(&f.edges, "edges", 2, "edge nodes beside the origin")
	fs.IntVar(&f.subscribers, "subscribers", 20, "WHEP viewers on each edge node")
	fs.IntVar(&f.direct, "direct", 5, "WHEP viewers on the origin, the baseline of delay")
	fs.StringVar(&f.tier, "tier", "hd", "room tier and top-layer bitrate: sd, hd, fhd or 4k")
	fs.StringVar(&f.codec, "codec", "vp8", "video codec: vp8 or h264")
	fs.DurationVar(&f.settle, "settle", 5*time.Second, "wait after the last viewer joined before measuring")
	fs.DurationVar(&f.duration, "duration", 20*time.Second, "measurement window")
	fs.BoolVar(&f.killEdge, "kill-edge", true, "after the window, SIGKILL the first edge node and time its viewers' return through another")
	fs.DurationVar(&f.watchdog, "watchdog", time.Second, "with --kill-edge: how long a viewer waits without media before it connects again")
	pins := fs.String("pins", "auto", "comma-separated layers the edges' viewers pin in turn with ?layer= (q, h, f; auto: none)")
	simulate := fs.String("simulate", "10,100", "comma-separated node counts to project the measured egress to (empty: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f.pins = strings.Split(*pins, ",")
	for _, s := range strings.Split(*simulate, ",") {
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 2 {
			return fmt.Errorf("cluster: --simulate: %q is not a node count of at least 2", s)
		}
		f.simulate = append(f.simulate, n)
	}
	for _, p := range f.pins {
		if p != "auto" && p != "q" && p != "h" && p != "f" {
			return fmt.Errorf("cluster: --pins: %q is not q, h, f or auto", p)
		}
	}
	tier, ok := tiers[f.tier]
	switch {
	case f.serverBin == "":
		return errors.New("cluster: --server-bin is required")
	case f.databaseURL == "":
		return errors.New("cluster: --database-url (or LECTERN_TEST_DATABASE_URL) is required")
	case f.edges < 1 || (f.killEdge && f.edges < 2):
		return errors.New("cluster: --edges must be at least 1 (2 with --kill-edge)")
	case !ok:
		return fmt.Errorf("cluster: unknown --tier %q", f.tier)
	case f.codec != "vp8" && f.codec != "h264":
		return fmt.Errorf("cluster: --codec must be vp8 or h264, not %q", f.codec)
	}
	run := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	nodes := make([]*benchServer, 0, f.edges+1)
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	for i := range f.edges + 1 {
		n, err := startServer(ctx, f.serverBin, "LECTERN_DATABASE_URL="+f.databaseURL, "LECTERN_CLUSTER=true",
			fmt.Sprintf("LECTERN_NODE_ID=bench-%s-%d", run, i))
		if err != nil {
			return fmt.Errorf("cluster: node %d: %w", i, err)
		}
		nodes = append(nodes, n)
	}
	origin, edges := nodes[0], nodes[1:]
	room := "cascade-" + run
	if err := origin.api(ctx, "POST", "/api/v1/rooms", fmt.Sprintf(`{"id":%q,"name":%q,"tier":%q}`, room, room, f.tier), nil); err != nil {
		return err
	}
	tok, err := origin.token(ctx, room, "publisher", `{"preset":"speaker"}`)
	if err != nil {
		return err
	}
	pub, err := startPublisher(ctx, origin.url, room, tok, publisherOptions{codec: f.codec, bitrate: tier.bitrate, width: tier.width, height: tier.height, simulcast: true})
	if err != nil {
		return fmt.Errorf("cluster: publisher: %w", err)
	}
	defer pub.close()
	api, err := subscriberAPI()
	if err != nil {
		return err
	}
	groups := make([]*viewerGroup, len(nodes))
	for i, n := range nodes {
		count := f.subscribers
		if i == 0 {
			count = f.direct
		}
		g := &viewerGroup{name: fmt.Sprintf("edge %d", i)}
		if i == 0 {
			g.name = "origin (direct)"
		}
		groups[i] = g
		for j := range count {
			t, err := origin.token(ctx, room, fmt.Sprintf("viewer-%d-%d", i, j), `{"preset":"viewer"}`)
			if err != nil {
				return err
			}
			query := ""
			if pin := f.pins[j%len(f.pins)]; i > 0 && pin != "auto" {
				query = "?layer=" + pin
			}
			v, err := startWHEPViewer(ctx, api, n.url, room+query, t)
			if err != nil {
				return fmt.Errorf("cluster: viewer %d on node %d: %w", j, i, err)
			}
			defer v.close()
			g.viewers = append(g.viewers, v)
		}
	}
	if err := sleepCtx(ctx, f.settle); err != nil {
		return err
	}
	for _, g := range groups {
		g.reset()
	}
	pub.reset()
	before := make([]pullCounters, len(edges))
	for i, e := range edges {
		if before[i], err = readPullCounters(ctx, e.url); err != nil {
			return err
		}
	}
	cpu0, err := sampleCPU(origin.pid())
	if err != nil {
		return err
	}
	start := time.Now()
	if err := sleepCtx(ctx, f.duration); err != nil {
		return err
	}
	elapsed := time.Since(start)
	cpu1, err := sampleCPU(origin.pid())
	if err != nil {
		return err
	}
	report := clusterReport{flags: f, tier: tier.bitrate, elapsed: elapsed, originCPU: cpu1.server - cpu0.server}
	for i, e := range edges {
		after, err := readPullCounters(ctx, e.url)
		if err != nil {
			return err
		}
		report.pulls = append(report.pulls, after.sub(before[i]))
	}
	for _, g := range groups {
		report.groups = append(report.groups, g.window())
	}
	if f.killEdge {
		if report.loss, err = killEdge(ctx, f, api, edges, groups[1:], room, origin); err != nil {
			return err
		}
	}
	report.print(out)
	return nil
}

// sleepCtx waits d (a measurement window, not a synchronization) or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// edgeLoss is what SIGKILL of an edge node cost.
type edgeLoss struct {
	// otherGap is the longest time any other edge's viewer went without a
	// video packet in the seconds after the kill.
	otherGap time.Duration
	// back are, per viewer of the killed edge, the times from the kill to
	// its first packet through another edge; failed counts those that did
	// not play again within 10 s.
	back   []time.Duration
	failed int
}

// killEdge kills edges[0] and measures edgeLoss: each of its viewers waits
// for its watchdog, then connects through edges[1].
func killEdge(ctx context.Context, f clusterFlags, api webrtcAPI, edges []*benchServer, groups []*viewerGroup, room string, origin *benchServer) (edgeLoss, error) {
	var loss edgeLoss
	for _, g := range groups[1:] {
		for _, v := range g.viewers {
			v.trackGaps()
		}
	}
	killed := time.Now()
	if err := syscall.Kill(edges[0].pid(), syscall.SIGKILL); err != nil {
		return loss, err
	}
	type result struct {
		d   time.Duration
		err error
	}
	results := make(chan result, len(groups[0].viewers))
	for j, v := range groups[0].viewers {
		go func() {
			if err := v.waitSilent(ctx, f.watchdog, 10*time.Second); err != nil {
				results <- result{err: err}
				return
			}
			t, err := origin.token(ctx, room, fmt.Sprintf("back-%d", j), `{"preset":"viewer"}`)
			if err != nil {
				results <- result{err: err}
				return
			}
			nv, err := startWHEPViewer(ctx, api, edges[1].url, room, t)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer nv.close()
			if err := nv.waitFirst(ctx, 10*time.Second); err != nil {
				results <- result{err: err}
				return
			}
			results <- result{d: nv.firstAt().Sub(killed)}
		}()
	}
	for range groups[0].viewers {
		r := <-results
		if r.err != nil {
			loss.failed++
			continue
		}
		loss.back = append(loss.back, r.d)
	}
	if err := sleepCtx(ctx, time.Second); err != nil {
		return loss, err
	}
	for _, g := range groups[1:] {
		for _, v := range g.viewers {
			loss.otherGap = max(loss.otherGap, v.maxGap())
		}
	}
	return loss, nil
}

// pullCounters are an edge node's lectern_cascade_* metrics.
type pullCounters struct {
	bytes map[string]float64 // pulled bytes by layer
	pulls map[string]float64 // open pulls by layer
}

func (p pullCounters) sub(o pullCounters) pullCounters {
	out := pullCounters{bytes: map[string]float64{}, pulls: p.pulls}
	for k, v := range p.bytes {
		out.bytes[k] = v - o.bytes[k]
	}
	return out
}

// readPullCounters reads the cascade metrics from a node's /metrics.
func readPullCounters(ctx context.Context, base string) (pullCounters, error) {
	text, err := fetchText(ctx, base+"/metrics")
	if err != nil {
		return pullCounters{}, err
	}
	p := pullCounters{bytes: map[string]float64{}, pulls: map[string]float64{}}
	for _, line := range strings.Split(text, "\n") {
		var dst map[string]float64
		switch {
		case strings.HasPrefix(line, "lectern_cascade_pulled_bytes_total{"):
			dst = p.bytes
		case strings.HasPrefix(line, "lectern_cascade_pulls{"):
			dst = p.pulls
		default:
			continue
		}
		_, rest, _ := strings.Cut(line, `layer="`)
		layer, rest, _ := strings.Cut(rest, `"`)
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return pullCounters{}, fmt.Errorf("cluster: metrics line %q: %w", line, err)
		}
		dst[layer] = v
	}
	return p, nil
}
