package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func init() { subcommands["hls"] = runHLS }

// hlsFlags configure the LL-HLS load.
type hlsFlags struct {
	serverBin string
	viewers   string
	duration  time.Duration
	ramp      time.Duration
	size      string
	bitrate   string
	parts     bool
}

// runHLS publishes one encoder stream into a room that broadcasts over LL-HLS,
// then for each viewer count runs that many LL-HLS clients (blocking playlist
// reload for the next part, then that part, like hls.js in low-latency mode)
// and reports the requests per second served, how long requests took, the
// server's CPU, and the server's delay from a part's last frame to its
// appearance in the playlist.
func runHLS(ctx context.Context, args []string, out io.Writer) error {
	var f hlsFlags
	fs := flag.NewFlagSet("hls", flag.ContinueOnError)
	fs.StringVar(&f.serverBin, "server-bin", "", "lectern binary to start (required; go build -o /tmp/lectern ./cmd/lectern)")
	fs.StringVar(&f.viewers, "viewers", "1000,5000", "comma-separated viewer counts, one run each")
	fs.DurationVar(&f.duration, "duration", 20*time.Second, "measurement window per run (after the ramp)")
	fs.DurationVar(&f.ramp, "ramp", 5*time.Second, "time over which viewers start")
	fs.StringVar(&f.size, "size", "1280x720", "published picture size")
	fs.StringVar(&f.bitrate, "bitrate", "2500k", "published video bitrate")
	fs.BoolVar(&f.parts, "parts", true, "viewers fetch each new part (false: blocking playlist reloads only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var counts []int
	for _, v := range strings.Split(f.viewers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			return fmt.Errorf("hls: --viewers: %q is not a count", v)
		}
		counts = append(counts, n)
	}
	if f.serverBin == "" {
		return errors.New("hls: --server-bin is required")
	}
	srv, err := startServer(ctx, f.serverBin)
	if err != nil {
		return err
	}
	defer srv.stop()
	if err := srv.api(ctx, "POST", "/api/v1/rooms", `{"id":"hls","name":"hls","mode":"webinar","tier":"hd","broadcast":{"hls":true}}`, nil); err != nil {
		return err
	}
	key, err := srv.streamKey(ctx, "hls")
	if err != nil {
		return err
	}
	token, err := srv.token(ctx, "hls", "viewer", `{"preset":"viewer"}`)
	if err != nil {
		return err
	}
	// The encoder loops a clip encoded beforehand, so that it takes next to
	// no CPU from the server and the viewers.
	clip := srv.dir + "/clip.mkv"
	enc := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size="+f.size+":rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "10", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-b:v", f.bitrate, "-maxrate", f.bitrate,
		"-bufsize", f.bitrate, "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "libopus", "-b:a", "64k", clip)
	if b, err := enc.CombinedOutput(); err != nil {
		return fmt.Errorf("hls: encode the clip: %v: %s", err, b)
	}
	pub := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", clip,
		"-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", "rtsp://encoder:"+key+"@"+srv.rtspHost+"/hls")
	if err := pub.Start(); err != nil {
		return fmt.Errorf("hls: start ffmpeg: %w", err)
	}
	defer func() { pub.Process.Kill(); pub.Wait() }()
	media, err := waitMultivariant(ctx, srv.url+"/hls/hls/index.m3u8?token="+url.QueryEscape(token))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Media playlist %s; encoder %s at %s, 30 fps, keyframe every second.\n\n", media[strings.Index(media, "/hls/"):], f.size, f.bitrate)
	fmt.Fprintln(out, "| viewers | window | requests/s | playlists/s | parts/s | errors | playlist wait p50 / p99 | part fetch p50 / p99 | most requests held at once | server CPU | bench CPU | part-to-playlist p50 / p99 |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, n := range counts {
		if err := hlsRun(ctx, srv, media, n, f, out); err != nil {
			return err
		}
	}
	return nil
}

// waitMultivariant polls index.m3u8 until the broadcast is live and returns
// the first media playlist's URL.
func waitMultivariant(ctx context.Context, index string) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(index)
		if err != nil {
			return "", err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == 200 {
			lines := strings.Split(strings.TrimSpace(string(body)), "\n")
			base := index[:strings.LastIndex(index[:strings.IndexByte(index, '?')], "/")+1]
			return base + lines[len(lines)-1], nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("hls: index.m3u8 still answers %d: %s", res.StatusCode, body)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(250 * time.Millisecond): // pacing the poll of another process
		}
	}
}

// hlsViewerStats are one run's counters, shared by its viewers.
type hlsViewerStats struct {
	playlists, parts, errors atomic.Uint64
	mu                       sync.Mutex
	waits, fetches           []time.Duration
	measuring                atomic.Bool
}

func (s *hlsViewerStats) record(list *[]time.Duration, d time.Duration) {
	if !s.measuring.Load() {
		return
	}
	s.mu.Lock()
	*list = append(*list, d)
	s.mu.Unlock()
}

// hlsRun runs n viewers for the ramp and the window and writes one row.
func hlsRun(ctx context.Context, srv *benchServer, media string, n int, f hlsFlags, out io.Writer) error {
	vctx, stop := context.WithCancel(ctx)
	defer stop()
	st := &hlsViewerStats{}
	var wg sync.WaitGroup
	step := f.ramp / time.Duration(n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each viewer has its own connection, as players on their own
			// machines do (a shared pool would serialize them on its lock).
			// Playlists come gzipped to clients that ask; the server
			// compresses each once, so only the bench would pay for asking.
			tr := &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true}
			defer tr.CloseIdleConnections()
			hlsViewer(vctx, &http.Client{Transport: tr}, media, f.parts, st)
		}()
		if i%50 == 49 {
			select {
			case <-time.After(50 * step):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	st.measuring.Store(true)
	cpu0, err := processCPU(srv.pid())
	if err != nil {
		return err
	}
	self0, _ := processCPU(os.Getpid())
	pl0, parts0, err0 := st.playlists.Load(), st.parts.Load(), st.errors.Load()
	start := time.Now()
	select {
	case <-time.After(f.duration):
	case <-ctx.Done():
		return ctx.Err()
	}
	elapsed := time.Since(start)
	cpu1, _ := processCPU(srv.pid())
	self1, _ := processCPU(os.Getpid())
	pl, parts, errs := st.playlists.Load()-pl0, st.parts.Load()-parts0, st.errors.Load()-err0
	c, err := hlsCounters(ctx, srv)
	if err != nil {
		return err
	}
	stop()
	wg.Wait()
	st.mu.Lock()
	defer st.mu.Unlock()
	secs := elapsed.Seconds()
	fmt.Fprintf(out, "| %d | %s | %.0f | %.0f | %.0f | %d | %s / %s | %s / %s | %d | %.0f%% of a core | %.0f%% | %.2f / %.2f ms |\n",
		n, elapsed.Round(time.Second), float64(pl+parts)/secs, float64(pl)/secs, float64(parts)/secs, errs,
		quantile(st.waits, 0.5), quantile(st.waits, 0.99), quantile(st.fetches, 0.5), quantile(st.fetches, 0.99),
		c.WaitingPeak, 100*(cpu1-cpu0).Seconds()/secs, 100*(self1-self0).Seconds()/secs, c.PartDelayP50, c.PartDelayP99)
	if pl == 0 {
		return errors.New("hls: no playlist was served")
	}
	return nil
}

// hlsViewer plays the media playlist as an LL-HLS client until ctx ends:
// a blocking reload for the part after the last one it has, then that part.
func hlsViewer(ctx context.Context, client *http.Client, media string, parts bool, st *hlsViewerStats) {
	base := media[:strings.LastIndex(media, "/")+1]
	body, _, err := hlsGet(ctx, client, media, true)
	for ctx.Err() == nil {
		if err != nil {
			st.errors.Add(1)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			body, _, err = hlsGet(ctx, client, media, true)
			continue
		}
		msn, part, ok := preloadHint(body)
		if !ok {
			err = errors.New("no preload hint")
			continue
		}
		var d time.Duration
		body, d, err = hlsGet(ctx, client, fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", media, msn, part), true)
		if err != nil {
			continue
		}
		st.playlists.Add(1)
		st.record(&st.waits, d)
		if uri := lastPart(body); parts && uri != "" {
			if _, d, perr := hlsGet(ctx, client, base+uri, false); perr == nil {
				st.parts.Add(1)
				st.record(&st.fetches, d)
			} else if ctx.Err() == nil {
				st.errors.Add(1)
			}
		}
	}
}

// hlsGet fetches u; media bodies (keep false) are counted, not kept.
func hlsGet(ctx context.Context, client *http.Client, u string, keep bool) ([]byte, time.Duration, error) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, 0, err
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	var body []byte
	if keep {
		body, err = io.ReadAll(res.Body)
	} else {
		_, err = io.Copy(io.Discard, res.Body)
	}
	if err == nil && res.StatusCode != 200 {
		err = fmt.Errorf("%s: %d", u, res.StatusCode)
	}
	return body, time.Since(start), err
}

// preloadHint is the (msn, part) of the part EXT-X-PRELOAD-HINT names: the
// one after the last listed (the hint's URI names the part by its number
// through the stream, not by its segment, which a keyframe may yet change).
func preloadHint(pl []byte) (uint64, int, bool) {
	if !bytes.Contains(pl, []byte("#EXT-X-PRELOAD-HINT:")) {
		return 0, 0, false
	}
	var msn uint64
	var segs, parts int
	for _, line := range strings.Split(string(pl), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"):
			n, err := strconv.ParseUint(strings.TrimPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"), 10, 64)
			if err != nil {
				return 0, 0, false
			}
			msn = n
		case strings.HasPrefix(line, "#EXT-X-PART:"):
			parts++
		case line != "" && !strings.HasPrefix(line, "#"):
			segs, parts = segs+1, 0
		}
	}
	return msn + uint64(segs), parts, true
}

// lastPart is the URI of the playlist's last EXT-X-PART.
func lastPart(pl []byte) string {
	i := bytes.LastIndex(pl, []byte("#EXT-X-PART:"))
	if i < 0 {
		return ""
	}
	return quotedURI(pl[i:])
}

func quotedURI(line []byte) string {
	i := bytes.Index(line, []byte(`URI="`))
	if i < 0 {
		return ""
	}
	rest := line[i+5:]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// quantile of durations, rounded for the table.
func quantile(v []time.Duration, q float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	d := v[min(len(v)-1, int(q*float64(len(v))))]
	return d.Round(100 * time.Microsecond)
}

// hlsCountersJSON are the server's HLS figures from the broadcast API.
type hlsCountersJSON struct {
	WaitingPeak  int64   `json:"waiting_peak"`
	PartDelayP50 float64 `json:"part_delay_p50_ms"`
	PartDelayP99 float64 `json:"part_delay_p99_ms"`
}

func hlsCounters(ctx context.Context, srv *benchServer) (hlsCountersJSON, error) {
	var bc struct {
		Status struct {
			HLS hlsCountersJSON `json:"hls_counters"`
		} `json:"status"`
	}
	err := srv.api(ctx, "GET", "/api/v1/rooms/hls/broadcast", "", &bc)
	return bc.Status.HLS, err
}
