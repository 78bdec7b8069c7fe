package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

func init() { subcommands["sfu"] = runSFU }

// sfuFlags configure the WebRTC load.
type sfuFlags struct {
	serverBin   string
	url         string
	adminKey    string
	serverPID   int
	debugURL    string
	publishers  int
	subscribers int
	rooms       int
	codec       string
	tier        string
	simulcast   bool
	ramp        time.Duration
	duration    time.Duration
	settle      time.Duration
	joinTimeout time.Duration
	cpuProfile  string
}

// tiers are DESIGN.md's resolution tiers: picture size and bitrate.
var tiers = map[string]struct{ width, height, bitrate int }{
	"sd":  {854, 480, 1_000_000},
	"hd":  {1280, 720, 2_500_000},
	"fhd": {1920, 1080, 5_000_000},
	"4k":  {3840, 2160, 15_000_000},
}

func parseSFUFlags(args []string) (sfuFlags, error) {
	var f sfuFlags
	fs := flag.NewFlagSet("sfu", flag.ContinueOnError)
	fs.StringVar(&f.serverBin, "server-bin", "", "lectern binary to start on loopback (go build -o /tmp/lectern ./cmd/lectern)")
	fs.StringVar(&f.url, "url", "", "base URL of a running server (instead of --server-bin)")
	fs.StringVar(&f.adminKey, "admin-key", "", "admin API key of the running server")
	fs.IntVar(&f.serverPID, "server-pid", 0, "process ID of the running server, for its CPU time")
	fs.StringVar(&f.debugURL, "debug-url", "", "pprof base URL of the running server (its debug_addr), for --cpu-profile")
	fs.IntVar(&f.publishers, "publishers", 1, "publishers per room, each one camera track")
	fs.IntVar(&f.subscribers, "subscribers", 50, "subscribers per room")
	fs.IntVar(&f.rooms, "rooms", 1, "rooms")
	fs.StringVar(&f.codec, "codec", "h264", "video codec: h264 or vp8")
	fs.StringVar(&f.tier, "tier", "hd", "room tier and top-layer bitrate: sd (1 Mbit/s), hd (2.5), fhd (5) or 4k (15)")
	fs.BoolVar(&f.simulcast, "simulcast", false, "publish three layers q, h, f at 1/16, 1/4 and the full bitrate")
	fs.DurationVar(&f.ramp, "ramp", 10*time.Second, "time over which the subscribers join")
	fs.DurationVar(&f.duration, "duration", 30*time.Second, "measurement window")
	fs.DurationVar(&f.settle, "settle", 2*time.Second, "wait between the last first frame and the window")
	fs.DurationVar(&f.joinTimeout, "join-timeout", 15*time.Second, "how long after the ramp to wait for every subscriber's first frame")
	fs.StringVar(&f.cpuProfile, "cpu-profile", "", "write the server's CPU profile over the window to this file (needs the server's debug_addr)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	switch {
	case (f.serverBin == "") == (f.url == ""):
		return f, errors.New("sfu: give --server-bin, or --url with --admin-key and --server-pid")
	case f.url != "" && (f.adminKey == "" || f.serverPID <= 0):
		return f, errors.New("sfu: --url needs --admin-key and --server-pid")
	case f.codec != "h264" && f.codec != "vp8":
		return f, fmt.Errorf("sfu: --codec %q is not h264 or vp8", f.codec)
	case f.publishers < 1 || f.subscribers < 1 || f.rooms < 1:
		return f, errors.New("sfu: --publishers, --subscribers and --rooms must be at least 1")
	case f.duration <= 0:
		return f, errors.New("sfu: --duration must be positive")
	}
	if _, ok := tiers[f.tier]; !ok {
		return f, fmt.Errorf("sfu: --tier %q is not sd, hd, fhd or 4k", f.tier)
	}
	return f, nil
}

// runSFU puts P publishers and N subscribers in each of R rooms over the
// websocket protocol, waits until every subscriber has video, then measures a
// window and prints one Markdown table row: what was sent and forwarded, loss,
// jitter, delivery and join latency, and the server's CPU per forwarded packet.
func runSFU(ctx context.Context, args []string, out io.Writer) error {
	f, err := parseSFUFlags(args)
	if err != nil {
		return err
	}
	var srv *benchServer
	if f.serverBin != "" {
		var env []string
		debugURL := ""
		if f.cpuProfile != "" {
			port, err := freeTCPPort()
			if err != nil {
				return err
			}
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			env = append(env, "LECTERN_DEBUG_ADDR="+addr)
			debugURL = "http://" + addr
		}
		if srv, err = startServer(ctx, f.serverBin, env...); err != nil {
			return err
		}
		defer srv.stop()
		srv.debugURL = debugURL
	} else {
		srv = attachServer(f.url, f.adminKey, f.serverPID, f.debugURL)
	}
	if f.cpuProfile != "" && srv.debugURL == "" {
		return errors.New("sfu: --cpu-profile needs the server's debug_addr (--debug-url for a running server)")
	}
	l := &sfuLoad{f: f, srv: srv, progress: os.Stderr}
	defer l.close()
	if err := l.start(ctx); err != nil {
		return err
	}
	res, err := l.measure(ctx)
	if err != nil {
		return err
	}
	res.print(out)
	if res.forwarded == 0 {
		return errors.New("sfu: nothing was forwarded")
	}
	return nil
}

// sfuLoad is one run's peers. start fills it; close ends every peer.
type sfuLoad struct {
	f        sfuFlags
	srv      *benchServer
	progress io.Writer
	pubs     []*benchPublisher

	mu       sync.Mutex
	subs     []*benchSubscriber
	joinErrs []error
}

// start opens the rooms, starts the publishers, then the subscribers over the
// ramp, and waits for every subscriber's first video packet.
func (l *sfuLoad) start(ctx context.Context) error {
	f := l.f
	tier := tiers[f.tier]
	run := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	rooms := make([]string, f.rooms)
	for r := range rooms {
		rooms[r] = fmt.Sprintf("bench-%s-%d", run, r)
		body := fmt.Sprintf(`{"id":%q,"name":"SFU bench %d","mode":"webinar","tier":%q}`, rooms[r], r, f.tier)
		if err := l.srv.api(ctx, "POST", "/api/v1/rooms", body, nil); err != nil {
			return err
		}
		for i := range f.publishers {
			tok, err := l.srv.token(ctx, rooms[r], fmt.Sprintf("pub-%d-%d", r, i), `{"preset":"speaker"}`)
			if err != nil {
				return err
			}
			p, err := startPublisher(ctx, l.srv.url, rooms[r], tok, publisherOptions{codec: f.codec, bitrate: tier.bitrate,
				width: tier.width, height: tier.height, simulcast: f.simulcast})
			if err != nil {
				return fmt.Errorf("sfu: publisher %d in %s: %w", i, rooms[r], err)
			}
			l.pubs = append(l.pubs, p)
		}
	}
	// The publishers are live: the server has their tracks once media flows.
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	fmt.Fprintf(l.progress, "sfu: %d publishers live; %d subscribers joining over %v\n", len(l.pubs), f.rooms*f.subscribers, f.ramp)

	api, err := subscriberAPI()
	if err != nil {
		return err
	}
	total := f.rooms * f.subscribers
	tokens := make([]string, total)
	for i := range tokens {
		if tokens[i], err = l.srv.token(ctx, rooms[i%f.rooms], fmt.Sprintf("sub-%d", i), `{"preset":"viewer"}`); err != nil {
			return err
		}
	}
	var joining sync.WaitGroup
	start := time.Now()
	for i := range total {
		at := start.Add(f.ramp * time.Duration(i) / time.Duration(total))
		select {
		case <-time.After(time.Until(at)):
		case <-ctx.Done():
			joining.Wait()
			return ctx.Err()
		}
		joining.Add(1)
		go func() {
			defer joining.Done()
			s, err := startSubscriber(ctx, api, l.srv.url, rooms[i%f.rooms], tokens[i], 10*tier.bitrate)
			l.mu.Lock()
			defer l.mu.Unlock()
			if err != nil {
				l.joinErrs = append(l.joinErrs, err)
				return
			}
			l.subs = append(l.subs, s)
		}()
	}
	joining.Wait()
	deadline := time.After(f.joinTimeout)
	for _, s := range l.subscribers() {
		select {
		case <-s.first:
		case <-deadline:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if len(l.subscribers()) == 0 {
		return fmt.Errorf("sfu: no subscriber joined: %v", errors.Join(l.joinErrs...))
	}
	select {
	case <-time.After(f.settle):
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func (l *sfuLoad) subscribers() []*benchSubscriber {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*benchSubscriber(nil), l.subs...)
}

// measure runs the window and gathers its results.
func (l *sfuLoad) measure(ctx context.Context) (*sfuResult, error) {
	subs := l.subscribers()
	for _, s := range subs {
		s.reset()
	}
	for _, p := range l.pubs {
		p.reset()
	}
	metrics0 := scrapeSFUMetrics(ctx, l.srv.url)
	cpu0, err := sampleCPU(l.srv.pid())
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(l.progress, "sfu: %d subscribers receiving; measuring for %v\n", len(subs), l.f.duration)
	profiled := make(chan error, 1)
	if l.f.cpuProfile != "" {
		go func() { profiled <- l.profile(ctx) }()
	} else {
		profiled <- nil
	}
	select {
	case <-time.After(l.f.duration):
	case <-ctx.Done():
		<-profiled
		return nil, ctx.Err()
	}
	cpu1, err := sampleCPU(l.srv.pid())
	if err != nil {
		return nil, err
	}
	metrics1 := scrapeSFUMetrics(ctx, l.srv.url)
	res := &sfuResult{f: l.f, window: cpu1.at.Sub(cpu0.at), subscribers: len(subs), joinFailures: len(l.joinErrs),
		server: cpu1.server - cpu0.server, bench: cpu1.bench - cpu0.bench,
		machineBusy: cpu1.busy - cpu0.busy, machineTotal: cpu1.total - cpu0.total, cpus: cpu1.cpus,
		rcvbufErrors: cpu1.udp.rcvbufErrors - cpu0.udp.rcvbufErrors, sndbufErrors: cpu1.udp.sndbufErrors - cpu0.udp.sndbufErrors,
		serverDrops: cpu1.serverDrops - cpu0.serverDrops, benchDrops: cpu1.benchDrops - cpu0.benchDrops,
		counters: metrics1.minus(metrics0)}
	for _, p := range l.pubs {
		st := p.stats()
		res.sent += st.packets
		res.keyframes += st.keyframes
		res.pacingJitterSum += st.jitterSum
		res.pacingJitterN += st.jitterN
	}
	for _, s := range subs {
		st := s.stats()
		res.total.add(st)
		res.forwarded += st.packets
		res.jitters = append(res.jitters, st.meanJitter())
		if first, connected, ok := s.joinLatency(); ok {
			res.joins = append(res.joins, first)
			res.connects = append(res.connects, connected)
		}
	}
	if err := <-profiled; err != nil {
		return nil, err
	}
	return res, nil
}

// profile saves the server's CPU profile over the window.
func (l *sfuLoad) profile(ctx context.Context) error {
	secs := max(1, int(l.f.duration.Seconds()))
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", l.srv.debugURL, secs), nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("sfu: cpu profile: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("sfu: cpu profile: %s", res.Status)
	}
	file, err := os.Create(l.f.cpuProfile)
	if err != nil {
		return err
	}
	if _, err := io.Copy(file, res.Body); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}

// close ends every peer, subscribers first, in parallel.
func (l *sfuLoad) close() {
	var wg sync.WaitGroup
	for _, s := range l.subscribers() {
		wg.Go(s.close)
	}
	wg.Wait()
	for _, p := range l.pubs {
		p.close()
	}
}
