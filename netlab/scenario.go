package netlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// Layer heights of the pages' simulcast (q, h, f of a 1280x720 camera).
const (
	Q = 180
	H = 360
	F = 720
)

// Phase is a stretch of a scenario with fixed network conditions.
type Phase struct {
	// Name labels the phase in reports ("3M", "unlimited").
	Name     string
	Duration time.Duration
	// ViewerDown and PublisherUp limit the links in bit/s; 0 is no limit.
	ViewerDown, PublisherUp int64
	// ViewerLoss and PublisherLoss drop that percentage of UDP packets at
	// random, arriving at the viewer and leaving the publishers.
	ViewerLoss, PublisherLoss int
	// ViewerDelay and PublisherDelay are added by the relay; a scenario with
	// any sends all media through it.
	ViewerDelay, PublisherDelay Delay
	// Fits is the highest layer (frame height) that fits the viewer's link:
	// what the viewer should receive of the first publisher's camera.
	Fits int
}

// Scenario is publishers and one viewer in a room, through phases.
type Scenario struct {
	Name       string
	Publishers int
	Phases     []Phase
}

// Env is what a scenario runs with.
type Env struct {
	// Bin is the lectern binary (go build ./cmd/lectern).
	Bin string
	// Camera, if set, is the Y4M file the publishers' fake cameras play
	// (NoisyCamera); empty uses Chromium's built-in pattern.
	Camera string
	// Logf, if set, reports progress.
	Logf func(format string, args ...any)
}

// Run runs a scenario in a lab of its own: it starts the server, a browser
// per publisher and one for the viewer, waits until the viewer decodes every
// camera, then applies each phase in turn while sampling the viewer's and the
// publishers' stats. Everything it created is gone when it returns, whether
// it failed or not.
func Run(ctx context.Context, env Env, sc Scenario) (res *Result, err error) {
	logf := env.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	lab, err := NewLab(ctx)
	if err != nil {
		return nil, err
	}
	defer lab.closeInto(&err)
	res = &Result{Scenario: sc, LabID: lab.ID}
	cfg := ServerConfig{IP: lab.ServerIP}
	var relay *Relay
	if sc.relayed() {
		if cfg.UDPPort, err = freeUDPPort(lab.ServerIP); err != nil {
			return res, err
		}
		cfg.Announce = lab.RelayIP
		relay, err = NewRelay(netip.AddrPortFrom(addr(lab.RelayIP), uint16(cfg.UDPPort)), netip.AddrPortFrom(addr(lab.ServerIP), uint16(cfg.UDPPort)))
		if err != nil {
			return res, err
		}
		defer relay.Close()
	}
	srv, err := StartServer(ctx, env.Bin, cfg)
	if err != nil {
		return res, err
	}
	defer srv.Close()
	defer func() {
		log := srv.Log()
		res.ServerLog = log[max(0, len(log)-20000):]
		if err != nil {
			err = fmt.Errorf("%w\nserver log:\n%s", err, srv.Log())
		}
	}()
	const room = "netlab"
	if err := srv.CreateRoom(ctx, room); err != nil {
		return res, err
	}
	c := &crew{relay: relay, camera: env.Camera}
	defer c.close()
	if err := c.start(ctx, lab, srv, room, sc.Publishers); err != nil {
		return res, err
	}
	logf("%s: %d publishers and a viewer joined; waiting for every camera", sc.Name, sc.Publishers)
	if err := c.waitCameras(ctx, 60*time.Second); err != nil {
		return res, err
	}
	res.Main = c.pubIDs[0] + "/camera"
	for _, ph := range sc.Phases {
		if err := c.apply(ctx, ph); err != nil {
			return res, err
		}
		logf("%s: phase %s for %v", sc.Name, ph.Name, ph.Duration)
		before, _ := srv.Metrics(ctx)
		dropsBefore, err := c.viewerNode.DownDrops(ctx)
		if err != nil {
			return res, err
		}
		rcvbuf0, err := c.viewerNode.UDPRcvbufErrors(ctx)
		if err != nil {
			return res, err
		}
		host0, _ := HostUDPRcvbufErrors()
		load0 := loadAvg()
		start := time.Now()
		if err := c.sample(ctx, ph.Duration); err != nil {
			return res, err
		}
		after, _ := srv.Metrics(ctx)
		dropsAfter, err := c.viewerNode.DownDrops(ctx)
		if err != nil {
			return res, err
		}
		rcvbuf1, err := c.viewerNode.UDPRcvbufErrors(ctx)
		if err != nil {
			return res, err
		}
		host1, _ := HostUDPRcvbufErrors()
		res.Phases = append(res.Phases, PhaseRun{Phase: ph, Start: start.UnixMilli(), End: time.Now().UnixMilli(),
			Server: delta(before, after), LinkDrops: dropsAfter - dropsBefore, RcvbufDrops: rcvbuf1 - rcvbuf0, HostRcvbufDrops: host1 - host0,
			Load: (load0 + loadAvg()) / 2})
	}
	res.Viewer, res.Publisher, res.Estimates = c.viewerSamples, c.pubSamples, c.estimates
	res.Problems = c.problems
	for _, p := range res.Phases {
		res.Results = append(res.Results, analyze(res, p))
	}
	return res, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// relayed reports whether a phase has a delay, which needs the relay.
func (sc Scenario) relayed() bool {
	for _, p := range sc.Phases {
		if p.ViewerDelay != (Delay{}) || p.PublisherDelay != (Delay{}) {
			return true
		}
	}
	return false
}

// freeUDPPort returns a UDP port on ip that was free a moment ago.
func freeUDPPort(ip net.IP) (int, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// addr converts an IPv4 net.IP.
func addr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip.To4())
	return a
}

// loadAvg returns the machine's one-minute load average, or -1.
func loadAvg() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// delta returns after minus before for each metric.
func delta(before, after map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range after {
		d[k] = v - before[k]
	}
	return d
}
