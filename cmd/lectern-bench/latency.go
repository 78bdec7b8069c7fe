package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

func init() { subcommands["latency"] = runLatency }

// latencyFlags configure the latency comparison.
type latencyFlags struct {
	serverBin string
	duration  time.Duration
	size      string
	bitrate   string
	part      time.Duration
}

// runLatency compares an LL-HLS client with an RTSP reader of the same
// broadcast. An encoder (ffmpeg, live test pattern, every frame different)
// publishes over RTSP into a webinar room with HLS on; one RTSP reader and one
// LL-HLS client (blocking reloads, hinted parts, like hls.js in low-latency
// mode) read the program. Frames are matched by a hash of their slices, so no
// clock other than the bench's own is involved. For each frame the bench
// reports when the LL-HLS client had it against when the RTSP reader did, and
// when a player that stays PART-HOLD-BACK behind the playlist's end (RFC
// 8216bis 4.4.3.8) would show it.
func runLatency(ctx context.Context, args []string, out io.Writer) error {
	var f latencyFlags
	fs := flag.NewFlagSet("latency", flag.ContinueOnError)
	fs.StringVar(&f.serverBin, "server-bin", "", "lectern binary to start (required; go build -o /tmp/lectern ./cmd/lectern)")
	fs.DurationVar(&f.duration, "duration", 30*time.Second, "measurement window")
	fs.StringVar(&f.size, "size", "1280x720", "published picture size")
	fs.StringVar(&f.bitrate, "bitrate", "2500k", "published video bitrate")
	fs.DurationVar(&f.part, "part", 0, "the server's hls_part_duration (0: its default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.serverBin == "" {
		return errors.New("latency: --server-bin is required")
	}
	var env []string
	if f.part > 0 {
		env = append(env, "LECTERN_HLS_PART_DURATION="+f.part.String())
	}
	srv, err := startServer(ctx, f.serverBin, env...)
	if err != nil {
		return err
	}
	defer srv.stop()
	if err := srv.api(ctx, "POST", "/api/v1/rooms", `{"id":"lat","name":"lat","mode":"webinar","tier":"hd","broadcast":{"hls":true}}`, nil); err != nil {
		return err
	}
	key, err := srv.streamKey(ctx, "lat")
	if err != nil {
		return err
	}
	token, err := srv.token(ctx, "lat", "viewer", `{"preset":"viewer"}`)
	if err != nil {
		return err
	}
	pub := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size="+f.size+":rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-b:v", f.bitrate, "-g", "30",
		"-pix_fmt", "yuv420p", "-c:a", "libopus", "-b:a", "64k",
		"-f", "rtsp", "-rtsp_transport", "tcp", "rtsp://encoder:"+key+"@"+srv.rtspHost+"/lat")
	if err := pub.Start(); err != nil {
		return fmt.Errorf("latency: start ffmpeg: %w", err)
	}
	defer func() { pub.Process.Kill(); pub.Wait() }()

	media, err := waitMultivariant(ctx, srv.url+"/hls/lat/index.m3u8?token="+url.QueryEscape(token))
	if err != nil {
		return err
	}
	readURL := "rtsp://" + srv.rtspHost + "/lat?token=" + url.QueryEscape(token)
	if err := waitDescribe(ctx, readURL); err != nil {
		return err
	}
	rtspSeen := newArrivals()
	reader, err := startFrameReader(readURL, rtspSeen)
	if err != nil {
		return err
	}
	defer reader.close()
	hlsSeen := newArrivals()
	hctx, stop := context.WithTimeout(ctx, f.duration)
	defer stop()
	holdBack, err := llhlsClient(hctx, media, hlsSeen)
	if err != nil && hctx.Err() == nil {
		return err
	}
	reader.close() // no more arrivals while they are compared
	res, err := compareArrivals(rtspSeen, hlsSeen, holdBack)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Encoder %s at %s, 30 fps, keyframe every second; PART-HOLD-BACK %.3f s; %d frames matched in %s.\n\n",
		f.size, f.bitrate, holdBack.Seconds(), res.frames, f.duration)
	fmt.Fprintln(out, "| what | p50 | p90 | p99 | max |")
	fmt.Fprintln(out, "|---|---|---|---|---|")
	for _, row := range []struct {
		what string
		v    []time.Duration
	}{
		{"frame at the LL-HLS client after the RTSP reader", res.delivery},
		{"frame shown by a PART-HOLD-BACK player after the RTSP reader", res.playback},
	} {
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s |\n", row.what, qms(row.v, 0.5), qms(row.v, 0.9), qms(row.v, 0.99), qms(row.v, 1))
	}
	return nil
}

// qms is a quantile of v in milliseconds.
func qms(v []time.Duration, q float64) string { return ms(quantile(v, q).Seconds()) + " ms" }

// frameKey identifies a video frame by its coded slices.
type frameKey uint64

func keyOf(nalus [][]byte) (frameKey, bool) {
	h := fnv.New64a()
	found := false
	for _, n := range nalus {
		if len(n) > 0 && (n[0]&0x1f == 1 || n[0]&0x1f == 5) {
			h.Write(n)
			found = true
		}
	}
	return frameKey(h.Sum64()), found
}

// arrivals records when each frame first reached a client, and for HLS its
// media time.
type arrivals struct {
	mu    sync.Mutex
	at    map[frameKey]time.Time
	media map[frameKey]time.Duration
}

func newArrivals() *arrivals {
	return &arrivals{at: map[frameKey]time.Time{}, media: map[frameKey]time.Duration{}}
}

func (a *arrivals) add(k frameKey, t time.Time, media time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.at[k]; !ok {
		a.at[k], a.media[k] = t, media
	}
}

// latencyResult holds the per-frame differences.
type latencyResult struct {
	frames             int
	delivery, playback []time.Duration
}

// compareArrivals matches frames seen by both clients. A PART-HOLD-BACK
// player shows the frame at media time m once the playlist reaches m +
// holdBack, that is when the first frame at or after that media time arrived.
func compareArrivals(rtsp, hls *arrivals, holdBack time.Duration) (latencyResult, error) {
	type frame struct {
		media time.Duration
		at    time.Time
	}
	rtsp.mu.Lock()
	defer rtsp.mu.Unlock()
	hls.mu.Lock()
	defer hls.mu.Unlock()
	var byMedia []frame
	for k, at := range hls.at {
		byMedia = append(byMedia, frame{hls.media[k], at})
	}
	slices.SortFunc(byMedia, func(a, b frame) int { return int(a.media - b.media) })
	// Earliest arrival of any frame at or after each position.
	earliest := make([]time.Time, len(byMedia))
	for i := len(byMedia) - 1; i >= 0; i-- {
		earliest[i] = byMedia[i].at
		if i+1 < len(byMedia) && earliest[i+1].Before(earliest[i]) {
			earliest[i] = earliest[i+1]
		}
	}
	var r latencyResult
	for k, hat := range hls.at {
		rat, ok := rtsp.at[k]
		if !ok {
			continue
		}
		r.frames++
		r.delivery = append(r.delivery, hat.Sub(rat))
		want := hls.media[k] + holdBack
		i, _ := slices.BinarySearchFunc(byMedia, want, func(f frame, m time.Duration) int { return int(f.media - m) })
		if i < len(byMedia) {
			r.playback = append(r.playback, earliest[i].Sub(rat))
		}
	}
	if r.frames < 30 || len(r.playback) == 0 {
		return r, fmt.Errorf("latency: only %d frames seen by both clients", r.frames)
	}
	return r, nil
}

// partHoldBack reads PART-HOLD-BACK from a media playlist.
func partHoldBack(pl []byte) (time.Duration, bool) {
	i := bytes.Index(pl, []byte("PART-HOLD-BACK="))
	if i < 0 {
		return 0, false
	}
	v := pl[i+len("PART-HOLD-BACK="):]
	if j := bytes.IndexAny(v, ",\r\n"); j >= 0 {
		v = v[:j]
	}
	s, err := strconv.ParseFloat(string(v), 64)
	return time.Duration(s * float64(time.Second)), err == nil
}

// playlistGet fetches a playlist or part and fails on any status but 200.
func playlistGet(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	body, _, err := hlsGet(ctx, client, u, true)
	return body, err
}

// mapURI is the URI of the playlist's EXT-X-MAP.
func mapURI(pl []byte) string {
	i := bytes.Index(pl, []byte("#EXT-X-MAP:"))
	if i < 0 {
		return ""
	}
	return quotedURI(pl[i:])
}

// hintURI is the URI of the playlist's EXT-X-PRELOAD-HINT.
func hintURI(pl []byte) string {
	i := bytes.LastIndex(pl, []byte("#EXT-X-PRELOAD-HINT:"))
	if i < 0 {
		return ""
	}
	return quotedURI(pl[i:])
}

// baseOf is the directory URL of a playlist URL.
func baseOf(u string) string {
	if q := strings.IndexByte(u, '?'); q >= 0 {
		u = u[:q]
	}
	return u[:strings.LastIndex(u, "/")+1]
}
