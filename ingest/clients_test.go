package ingest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"lectern/hls/hlstest"
)

// needGStreamer skips the test without gst-launch-1.0 and the named elements,
// except in CI, where it fails.
func needGStreamer(t *testing.T, elements ...string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs GStreamer: "+format, args...)
		}
		t.Skipf("no GStreamer: "+format, args...)
	}
	for _, bin := range []string{"gst-launch-1.0", "gst-inspect-1.0"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing("%s: %v", bin, err)
		}
	}
	for _, e := range elements {
		if out, err := exec.Command("gst-inspect-1.0", e).CombinedOutput(); err != nil {
			missing("element %s: %v\n%s", e, err, out)
		}
	}
}

// gstPlay plays url with rtspsrc until frames decoded video frames reached
// the sink, and returns how many arrived and gst-launch's output.
func gstPlay(t *testing.T, url, protocols string, frames int) (int, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gst-launch-1.0", "-v", "rtspsrc", "location="+url, "protocols="+protocols, "name=src",
		"src.", "!", "application/x-rtp,media=video", "!", "decodebin", "!", "video/x-raw",
		"!", "identity", "eos-after="+itoa(frames+1), "!", "fakesink", "silent=false", "name=frames")
	cmd.Env = append(os.Environ(), "GST_DEBUG=rtspsrc:4")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	n := strings.Count(out.String(), "frames: last-message = chain")
	return n, out.String(), err
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestGStreamerPlays plays a room with rtspsrc, the token in the query.
func TestGStreamerPlays(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	needGStreamer(t, "rtspsrc", "decodebin")
	r := newRig(t, false)
	log := publish(t, r.url("live", "encoder:sk_live", ""), "tcp", "libopus")
	r.waitTracks(t, "live", 2, log)
	n, out, err := gstPlay(t, r.url("live", "", "token=viewer-token"), "tcp", 30)
	if err != nil || n < 30 {
		t.Fatalf("rtspsrc decoded %d frames: %v\n%s", n, err, tail(out, 3000))
	}
}

// tail is the end of a tool's output, for failure messages.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
