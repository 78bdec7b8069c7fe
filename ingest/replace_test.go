package ingest

import (
	"bufio"
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"lectern/hls/hlstest"
	"lectern/internal/syncbuf"
)

// waitNoTracks waits until room has no tracks (its encoder is gone).
func (r *rig) waitNoTracks(t *testing.T, room string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if rm, ok := r.media.LiveRoom(room); !ok || len(rm.Tracks()) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("room %s still has tracks", room)
		}
		<-tick.C
	}
}

// TestRTSPReaderFollowsReplacedEncoder: encoder A (640x360) publishes, and
// ffmpeg and a gortsplib client read the room over RTSP. A disconnects
// (nothing is on air), and encoder B (320x240) publishes with the same
// stream key, as an encoder that restarts does: its SPS, PPS, SSRC,
// sequence numbers and timestamps are all new. Both readers go on in the
// same session: ffmpeg decodes B's pictures without an error; the RTP has no
// sequence gap, no timestamp going back, and B's IDRs carry B's parameter sets.
func TestRTSPReaderFollowsReplacedEncoder(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	r := newRig(t, false)
	a, logA := publishSize(t, r.url("live", "encoder:sk_live", ""), "tcp", "libopus", "640x360")
	r.waitTracks(t, "live", 2, logA)

	w := watchRTSP(t, r.url("live", "", "token=viewer-token"))
	rr := readRTP(t, r.url("live", "", "token=viewer-token"))
	seen := w.waitSize(t, "640x360", 25, nil)
	a.Process.Kill()
	r.waitNoTracks(t, "live")
	_, logB := publishSize(t, r.url("live", "encoder:sk_live", ""), "tcp", "libopus", "320x240")
	r.waitTracks(t, "live", 2, logB)
	seen = w.waitSize(t, "320x240", 50, seen)
	if got := compact(seen); !regexp.MustCompile(`^640x360×\d+ 320x240×\d+$`).MatchString(got) {
		t.Errorf("decoded sizes %s, want 640x360 then 320x240", got)
	}
	if errs, tail := w.report(); len(errs) > 0 {
		t.Errorf("ffmpeg reported errors:\n%s\n\nits last lines:\n%s", errs, tail)
	}
	t.Logf("decoded %s", compact(seen))
	rr.waitIDRs(t, "320x240", 2)
	rr.mu.Lock()
	defer rr.mu.Unlock()
	t.Logf("gortsplib reader: %d access units, %d IDRs, IDR sizes %v", rr.aus, rr.idrs, rr.sizes)
	if rr.gaps > 0 || rr.backwards > 0 {
		t.Errorf("%d sequence gaps, %d timestamps going back", rr.gaps, rr.backwards)
	}
	if rr.idrsWithParams != rr.idrs || rr.sizes["640x360"] == 0 {
		t.Errorf("%d IDRs, %d with parameter sets, of sizes %v", rr.idrs, rr.idrsWithParams, rr.sizes)
	}
}

// waitIDRs waits until the reader got n IDRs of size with their parameter sets.
func (rr *rtpReader) waitIDRs(t *testing.T, size string, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		rr.mu.Lock()
		ok := rr.sizes[size] >= n
		rr.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-rr.more:
		case <-deadline:
			t.Fatalf("the gortsplib reader got no %d IDRs of %s: %v", n, size, rr.sizes)
		}
	}
}

// gstFrames is GStreamer's rtspsrc decoding a room: the byte size of each
// decoded picture (I420: width*height*3/2) as fakesink reports it.
var gstFrame = regexp.MustCompile(`frames: last-message = chain.*\((\d+) bytes`)

func gstWatch(t *testing.T, url string) (frames <-chan int, out *syncbuf.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, "gst-launch-1.0", gstReadArgs(url, "tcp")...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	out = &syncbuf.Buffer{}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan int, 10000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		lines := bufio.NewScanner(stdout)
		lines.Buffer(make([]byte, 64<<10), 1<<20)
		for lines.Scan() {
			line := lines.Text()
			if m := gstFrame.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[1])
				ch <- n
				continue
			}
			out.Write([]byte(line + "\n"))
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cancel()
		<-done
		cmd.Wait()
	})
	return ch, out
}

// waitFrames reads frames until n of size bytes arrived (after any others).
func waitFrames(t *testing.T, frames <-chan int, size, n int, out *syncbuf.Buffer, r *rig) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	got, other := 0, 0
	for got < n {
		select {
		case s, ok := <-frames:
			if !ok {
				t.Fatalf("rtspsrc stopped after %d pictures of %d bytes (%d others):\n%s\nthe server logged:\n%s",
					got, size, other, tail(out.String(), 3000), tail(r.logs.String(), 3000))
			}
			if s == size {
				got++
			} else {
				other++
			}
		case <-deadline:
			t.Fatalf("rtspsrc decoded %d pictures of %d bytes (%d others) in 60 s:\n%s\nthe server logged:\n%s",
				got, size, other, tail(out.String(), 3000), tail(r.logs.String(), 3000))
		}
	}
}

// TestGStreamerReaderFollowsReplacedEncoder: rtspclientsink publishes at
// 320x240 while rtspsrc plays the room; the encoder is replaced by another
// at 640x360 (a new rtspclientsink: new parameter sets, SSRC, sequence
// numbers and timestamps). rtspsrc goes on in the same session and decodes
// the new encoder's pictures.
func TestGStreamerReaderFollowsReplacedEncoder(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	needGStreamer(t, "rtspclientsink", "x264enc", "opusenc", "videotestsrc", "audiotestsrc", "rtspsrc", "playbin3")
	r := newRig(t, false)
	a, logA := gstPublishSize(t, r.url("live", "encoder:sk_live", ""), "320x240")
	r.waitTracks(t, "live", 2, logA)
	frames, out := gstWatch(t, r.url("live/token/viewer-token", "", ""))
	waitFrames(t, frames, 320*240*3/2, 25, out, r)
	a.Process.Kill()
	r.waitNoTracks(t, "live")
	_, logB := gstPublishSize(t, r.url("live", "encoder:sk_live", ""), "640x360")
	r.waitTracks(t, "live", 2, logB)
	waitFrames(t, frames, 640*360*3/2, 50, out, r)
}
