package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
)

func init() { subcommands["sfu"] = runSFU }

// sfuFlags configure the WebRTC load.
type sfuFlags struct {
	serverBin   string
	publishers  int
	subscribers int
	rooms       int
	codec       string
	tier        string
	duration    time.Duration
	ramp        time.Duration
	metrics     bool
}

var tierBitrates = map[string]int{"sd": 1_000_000, "hd": 2_500_000, "fhd": 5_000_000, "4k": 15_000_000}

// runSFU starts a lectern server, puts P publishers and N subscribers in each
// of R rooms over the websocket protocol, and reports the server's CPU per
// forwarded packet, loss, jitter and join-to-first-frame latency.
func runSFU(ctx context.Context, args []string, out io.Writer) error {
	var f sfuFlags
	fs := flag.NewFlagSet("sfu", flag.ContinueOnError)
	fs.StringVar(&f.serverBin, "server-bin", "", "lectern binary to start (required; go build -o /tmp/lectern ./cmd/lectern)")
	fs.IntVar(&f.publishers, "publishers", 1, "publishers per room (camera video each)")
	fs.IntVar(&f.subscribers, "subscribers", 50, "subscribers per room")
	fs.IntVar(&f.rooms, "rooms", 1, "rooms")
	fs.StringVar(&f.codec, "codec", "vp8", "video codec: vp8 or h264")
	fs.StringVar(&f.tier, "tier", "hd", "bitrate of the tier: sd, hd, fhd or 4k")
	fs.DurationVar(&f.duration, "duration", 30*time.Second, "measurement window after the ramp")
	fs.DurationVar(&f.ramp, "ramp", 10*time.Second, "time over which subscribers join")
	fs.BoolVar(&f.metrics, "metrics", false, "also print the server's SFU counters")
	if err := fs.Parse(args); err != nil {
		return err
	}
	bitrate, ok := tierBitrates[f.tier]
	if f.serverBin == "" || !ok || (f.codec != "vp8" && f.codec != "h264") {
		return errors.New("sfu: --server-bin is required; --tier is sd, hd, fhd or 4k; --codec is vp8 or h264")
	}
	srv, err := startServer(ctx, f.serverBin)
	if err != nil {
		return err
	}
	defer srv.stop()

	var pubs []*benchPublisher
	var subs []*benchSubscriber
	defer func() {
		for _, s := range subs {
			s.close()
		}
		for _, p := range pubs {
			p.close()
		}
	}()
	for r := range f.rooms {
		room := fmt.Sprintf("bench-%d", r)
		if f.codec == "h264" {
			// A broadcast room negotiates H.264.
			if err := srv.api(ctx, "POST", "/api/v1/rooms", fmt.Sprintf(`{"id":%q,"name":%q,"tier":%q,"broadcast":{"hls":true}}`, room, room, f.tier), nil); err != nil {
				return err
			}
		} else if err := srv.api(ctx, "POST", "/api/v1/rooms", fmt.Sprintf(`{"id":%q,"name":%q,"tier":%q}`, room, room, f.tier), nil); err != nil {
			return err
		}
		for i := range f.publishers {
			tok, err := srv.token(ctx, room, fmt.Sprintf("pub-%d", i), `{"preset":"speaker"}`)
			if err != nil {
				return err
			}
			p, err := startPublisher(ctx, srv.url, room, tok, f.codec, bitrate)
			if err != nil {
				return fmt.Errorf("sfu: publisher: %w", err)
			}
			pubs = append(pubs, p)
		}
	}
	// Subscribers join over the ramp, every room in turn.
	total := f.rooms * f.subscribers
	step := f.ramp / time.Duration(max(1, total))
	for i := range total {
		room := fmt.Sprintf("bench-%d", i%f.rooms)
		tok, err := srv.token(ctx, room, fmt.Sprintf("sub-%d", i), `{"preset":"viewer"}`)
		if err != nil {
			return err
		}
		s, err := startSubscriber(ctx, srv.url, room, tok)
		if err != nil {
			return fmt.Errorf("sfu: subscriber %d: %w", i, err)
		}
		subs = append(subs, s)
		select {
		case <-time.After(step):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Wait for every subscriber's first frame (or give up after 15 s), then measure.
	firstDeadline := time.After(15 * time.Second)
	for _, s := range subs {
		select {
		case <-s.first:
		case <-firstDeadline:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, s := range subs {
		s.reset()
	}
	for _, p := range pubs {
		p.reset()
	}
	cpu0, err := processCPU(srv.pid())
	if err != nil {
		return err
	}
	self0, _ := processCPU(os.Getpid())
	start := time.Now()
	select {
	case <-time.After(f.duration):
	case <-ctx.Done():
		return ctx.Err()
	}
	cpu1, _ := processCPU(srv.pid())
	if f.metrics {
		res, err := http.Get(srv.url + "/metrics")
		if err == nil {
			data, _ := io.ReadAll(res.Body)
			res.Body.Close()
			for _, l := range strings.Split(string(data), "\n") {
				if strings.HasPrefix(l, "lectern_sfu_") {
					fmt.Fprintln(out, l)
				}
			}
		}
	}
	self1, _ := processCPU(os.Getpid())
	elapsed := time.Since(start)

	var sent, received, lost, late uint64
	var jitters []float64
	var firsts []time.Duration
	for _, p := range pubs {
		sent += p.sent.Load()
	}
	for _, s := range subs {
		st := s.stats()
		received += st.received
		lost += st.lost
		late += st.late
		jitters = append(jitters, st.jitterMS)
		if st.firstFrame > 0 {
			firsts = append(firsts, st.firstFrame)
		}
	}
	cpu := cpu1 - cpu0
	fmt.Fprintf(out, "| rooms × pubs × subs | codec, tier | window | packets sent | forwarded | loss | retransmitted or late | jitter p50 | first frame p50 / p99 | server CPU | bench CPU | server CPU per forwarded packet |\n")
	fmt.Fprintf(out, "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(out, "| %d × %d × %d | %s %s | %s | %d | %d | %.2f%% | %d | %.2f ms | %s / %s (%d of %d) | %.0f%% of a core | %.0f%% | %.2f µs |\n",
		f.rooms, f.publishers, f.subscribers, f.codec, f.tier, elapsed.Round(time.Second), sent, received,
		100*float64(lost)/float64(max(1, received+lost)), late,
		percentile(jitters, 0.5), durPercentile(firsts, 0.5), durPercentile(firsts, 0.99), len(firsts), len(subs),
		100*cpu.Seconds()/elapsed.Seconds(), 100*(self1-self0).Seconds()/elapsed.Seconds(),
		float64(cpu.Nanoseconds())/1000/float64(max(1, received)))
	if received == 0 {
		return errors.New("sfu: nothing was forwarded")
	}
	return nil
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[min(len(v)-1, int(p*float64(len(v))))]
}

func durPercentile(v []time.Duration, p float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[min(len(v)-1, int(p*float64(len(v))))].Round(time.Millisecond)
}
