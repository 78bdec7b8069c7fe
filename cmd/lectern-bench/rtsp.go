package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

func init() { subcommands["rtsp"] = runRTSP }

// rtspFlags configure the RTSP fan-out load.
type rtspFlags struct {
	serverBin string
	readers   int
	duration  time.Duration
	size      string
	bitrate   string
	fps       int
}

// runRTSP publishes one encoder stream with ffmpeg into a room of a lectern
// server it starts, connects N RTSP readers over TCP, and reports loss and the
// server's CPU per reader stream.
func runRTSP(ctx context.Context, args []string, out io.Writer) error {
	var f rtspFlags
	fs := flag.NewFlagSet("rtsp", flag.ContinueOnError)
	fs.StringVar(&f.serverBin, "server-bin", "", "lectern binary to start (required; go build -o /tmp/lectern ./cmd/lectern)")
	fs.IntVar(&f.readers, "readers", 50, "concurrent RTSP readers")
	fs.DurationVar(&f.duration, "duration", 30*time.Second, "measurement window")
	fs.StringVar(&f.size, "size", "1280x720", "published picture size")
	fs.StringVar(&f.bitrate, "bitrate", "2500k", "published video bitrate")
	fs.IntVar(&f.fps, "fps", 30, "published frame rate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.serverBin == "" {
		return errors.New("rtsp: --server-bin is required")
	}
	srv, err := startServer(ctx, f.serverBin)
	if err != nil {
		return err
	}
	defer srv.stop()
	key, err := srv.streamKey(ctx, "bench")
	if err != nil {
		return err
	}
	token, err := srv.token(ctx, "bench", "reader", `{"preset":"viewer"}`)
	if err != nil {
		return err
	}
	pub := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=%d", f.size, f.fps),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-b:v", f.bitrate, "-g", fmt.Sprint(2*f.fps),
		"-pix_fmt", "yuv420p", "-c:a", "libopus", "-b:a", "64k",
		"-f", "rtsp", "-rtsp_transport", "tcp", "rtsp://encoder:"+key+"@"+srv.rtspHost+"/bench")
	if err := pub.Start(); err != nil {
		return fmt.Errorf("rtsp: start ffmpeg: %w", err)
	}
	defer func() { pub.Process.Kill(); pub.Wait() }()

	readURL := "rtsp://" + srv.rtspHost + "/bench?token=" + url.QueryEscape(token)
	if err := waitDescribe(ctx, readURL); err != nil {
		return err
	}
	readers := make([]*rtspReader, f.readers)
	for i := range readers {
		if readers[i], err = startReader(readURL); err != nil {
			return fmt.Errorf("rtsp: reader %d: %w", i, err)
		}
		defer readers[i].close()
	}
	// Let every reader reach steady state before measuring.
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, r := range readers {
		r.reset()
	}
	cpu0, err := processCPU(srv.pid())
	if err != nil {
		return err
	}
	start := time.Now()
	select {
	case <-time.After(f.duration):
	case <-ctx.Done():
		return ctx.Err()
	}
	cpu1, err := processCPU(srv.pid())
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	var received, lost uint64
	for _, r := range readers {
		rc, lc := r.counts()
		received += rc
		lost += lc
	}
	cpu := cpu1 - cpu0
	fmt.Fprintf(out, "| readers | duration | packets received | lost | loss | server CPU | CPU per reader stream | CPU per packet |\n")
	fmt.Fprintf(out, "|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(out, "| %d | %s | %d | %d | %.3f%% | %.1f%% of a core | %.3f%% of a core | %.2f µs |\n",
		f.readers, elapsed.Round(time.Second), received, lost, 100*float64(lost)/float64(max(1, received+lost)),
		100*cpu.Seconds()/elapsed.Seconds(), 100*cpu.Seconds()/elapsed.Seconds()/float64(f.readers),
		float64(cpu.Microseconds())/float64(max(1, received)))
	if received == 0 {
		return errors.New("rtsp: readers received nothing")
	}
	return nil
}

// waitDescribe waits until the room's program can be described.
func waitDescribe(ctx context.Context, readURL string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := startReader(readURL)
		if err == nil {
			r.close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("rtsp: the program never became readable: %w", err)
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// rtspReader is one RTSP client counting packets and sequence gaps per media.
type rtspReader struct {
	c        *gortsplib.Client
	received atomic.Uint64
	lost     atomic.Uint64
	mu       sync.Mutex
	last     map[*description.Media]uint16
}

func startReader(readURL string) (*rtspReader, error) {
	u, err := base.ParseURL(readURL)
	if err != nil {
		return nil, err
	}
	tcp := gortsplib.TransportTCP
	r := &rtspReader{c: &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tcp}, last: map[*description.Media]uint16{}}
	if err := r.c.Start2(); err != nil {
		return nil, err
	}
	desc, _, err := r.c.Describe(u)
	if err != nil {
		r.c.Close()
		return nil, err
	}
	if err := r.c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		r.c.Close()
		return nil, err
	}
	r.c.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) { r.count(m, pkt) })
	if _, err := r.c.Play(nil); err != nil {
		r.c.Close()
		return nil, err
	}
	return r, nil
}

func (r *rtspReader) count(m *description.Media, pkt *rtp.Packet) {
	r.mu.Lock()
	if last, ok := r.last[m]; ok {
		if gap := pkt.SequenceNumber - last - 1; gap > 0 && gap < 1000 {
			r.lost.Add(uint64(gap))
		}
	}
	r.last[m] = pkt.SequenceNumber
	r.mu.Unlock()
	r.received.Add(1)
}

func (r *rtspReader) reset() {
	r.received.Store(0)
	r.lost.Store(0)
}

func (r *rtspReader) counts() (received, lost uint64) { return r.received.Load(), r.lost.Load() }

func (r *rtspReader) close() { r.c.Close() }
