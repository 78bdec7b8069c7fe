package ingest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"lectern/hls/hlstest"
	"lectern/internal/syncbuf"
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

// gstReadArgs are gst-launch's arguments to play url with GStreamer's player,
// playbin3 (rtspsrc over protocols, tcp or udp, as the URI scheme rtspt or
// rtspu says), printing each decoded picture (fakesink frames). Over TCP,
// rtspsrc stamps the first packet of every stream with one time, so its
// jitter buffers release both streams at the same instant and their pads
// appear at once on two threads. gst-launch linking rtspsrc's pads itself
// (src. ! application/x-rtp,media=video ! ...) and uridecodebin both link
// such pads racily: about one play in fifty under load left the video pad
// unlinked ("flushing not-linked", 0 frames in 60 s). playbin3's
// uridecodebin3 does not (docs/clients.md).
func gstReadArgs(url, protocols string) []string {
	scheme := "rtspt://"
	if protocols == "udp" {
		scheme = "rtspu://"
	}
	return []string{"-v", "playbin3", "uri=" + scheme + strings.TrimPrefix(url, "rtsp://"),
		"video-sink=fakesink name=frames silent=false", "audio-sink=fakesink"}
}

// gstPlay plays url with rtspsrc and decodes its video until frames decoded
// pictures reached the sink (gst-launch -v prints each), then stops
// gst-launch. It returns how many arrived and gst-launch's output. The
// stream's audio goes to a sink of its own: an RTP pad left unlinked stops
// rtspsrc over UDP ("not-linked").
func gstPlay(t *testing.T, url, protocols string, frames int) (int, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gst-launch-1.0", gstReadArgs(url, protocols)...)
	// What rtspsrc and its jitter buffer decide about the stream (RTP-Info,
	// dropped packets), for the failure message (gstDiagnosis).
	cmd.Env = append(os.Environ(), "GST_DEBUG="+gstDebug(), "GST_DEBUG_NO_COLOR=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncbuf.Buffer{}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	enough := make(chan struct{})
	read := make(chan int, 1)
	go func() {
		n := 0
		lines := bufio.NewReader(stdout)
		for {
			line, err := lines.ReadString('\n')
			out.Write([]byte(line))
			if strings.Contains(line, "frames: last-message = chain") {
				if n++; n == frames {
					close(enough)
				}
			}
			if err != nil {
				read <- n
				return
			}
		}
	}()
	var n int
	select {
	case <-enough:
		cmd.Process.Kill()
		n = <-read
		cmd.Wait()
		return n, out.String(), nil
	case n = <-read:
		if n >= frames {
			cmd.Wait()
			return n, out.String(), nil
		}
	}
	// gst-launch ended (an error, the stream's end or the deadline) before
	// enough frames arrived.
	err = cmd.Wait()
	if err == nil {
		err = fmt.Errorf("gst-launch ended after %d frames", n)
	}
	if dump := os.Getenv("LECTERN_TEST_GST_DUMP"); dump != "" {
		os.WriteFile(fmt.Sprintf("%s/gst-%d.log", dump, time.Now().UnixNano()), []byte(out.String()), 0o644)
	}
	return n, out.String(), err
}

// gstDebug is GST_DEBUG for a reader: LECTERN_TEST_GST_DEBUG when set (with
// LECTERN_TEST_GST_DUMP naming a folder for the whole log of a reader that
// decodes too little), else what gstDiagnosis shows.
func gstDebug() string {
	if d := os.Getenv("LECTERN_TEST_GST_DEBUG"); d != "" {
		return d
	}
	return "rtspsrc:5,rtpjitterbuffer:4,rtph264depay:4,h264parse:3"
}

// gstDebugLine is a GST_DEBUG line worth showing when a reader decodes too
// little: what the player took from the server's answers, and what it dropped.
var gstDebugLine = regexp.MustCompile(`(?i)rtp-info|seqbase|timebase|resync|discont|dropping|too late|too early|lost|keyframe|WARN|ERROR`)

// gstDiagnosis returns up to 60 of gst-launch's debug lines that explain
// what rtspsrc did with the stream.
func gstDiagnosis(out string) string {
	var keep []string
	for _, line := range strings.Split(out, "\n") {
		debug := strings.Contains(line, "GST_") || strings.Contains(line, " rtspsrc ") || strings.Contains(line, "jitterbuffer") || strings.Contains(line, "depay")
		// How far the decoding branches got: the caps that reached each
		// capsfilter and sink, and links gst-launch could not make.
		branch := strings.Contains(line, "GstCapsFilter") || strings.Contains(line, "GstFakeSink") || strings.Contains(line, "inking")
		if (debug && gstDebugLine.MatchString(line) || branch && strings.Contains(line, "caps")) && len(keep) < 80 {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

var ffmpegFrame = regexp.MustCompile(`(?m)^frame=(\d+)$`)

// ffmpegPlay reads url with ffmpeg and decodes frames video frames; it
// returns how many were decoded and ffmpeg's output.
func ffmpegPlay(t *testing.T, url, transport string, frames int) (int, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostats", "-loglevel", "warning", "-rtsp_transport", transport,
		"-i", url, "-map", "0:v:0", "-frames:v", strconv.Itoa(frames), "-f", "null", "-", "-progress", "pipe:1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	n := 0
	if m := ffmpegFrame.FindAllStringSubmatch(stdout.String(), -1); len(m) > 0 {
		n, _ = strconv.Atoi(m[len(m)-1][1])
	}
	return n, stderr.String(), err
}

// gstPublish publishes a test pattern in H.264 (320x240) and Opus tone with
// rtspclientsink until the test ends, and returns gst-launch's output.
func gstPublish(t *testing.T, url string) *syncbuf.Buffer {
	t.Helper()
	_, out := gstPublishSize(t, url, "320x240")
	return out
}

// gstPublishSize is gstPublish with pictures of size (WxH), also returning
// the process.
func gstPublishSize(t *testing.T, url, size string) (*exec.Cmd, *syncbuf.Buffer) {
	t.Helper()
	w, h, _ := strings.Cut(size, "x")
	cmd := exec.Command("gst-launch-1.0", "-q",
		"videotestsrc", "is-live=true", "pattern=ball", "!", "video/x-raw,width="+w+",height="+h+",framerate=25/1",
		"!", "x264enc", "tune=zerolatency", "speed-preset=ultrafast", "key-int-max=25", "!", "video/x-h264,profile=constrained-baseline",
		"!", "sink.",
		"audiotestsrc", "is-live=true", "!", "opusenc", "!", "sink.",
		"rtspclientsink", "name=sink", "protocols=tcp", "location="+url)
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, out
}

// tail is the end of a tool's output, for failure messages.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// playForms are the ways a reader can give its token, as rig URL arguments.
var playForms = []struct{ name, path, userinfo, query string }{
	{"token in path", "live/token/viewer-token", "", ""},
	{"token in query", "live", "", "token=viewer-token"},
	{"token as Basic password", "live", "viewer:viewer.basic.token", ""},
}

// TestGStreamerPlays plays a room that ffmpeg publishes into with GStreamer's
// rtspsrc, the token in the path, in the query and as the Basic password, and
// decodes 30 video frames each time; then over UDP.
func TestGStreamerPlays(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	needGStreamer(t, "rtspsrc", "playbin3", "fakesink")
	for _, protocols := range []string{"tcp", "udp"} {
		t.Run(protocols, func(t *testing.T) {
			r := newRig(t, protocols == "udp")
			log := publish(t, r.url("live", "encoder:sk_live", ""), "tcp", "libopus")
			r.waitTracks(t, "live", 2, log)
			for _, f := range playForms {
				t.Run(f.name, func(t *testing.T) {
					n, out, err := gstPlay(t, r.url(f.path, f.userinfo, f.query), protocols, 30)
					if err != nil || n < 30 {
						t.Fatalf("rtspsrc decoded %d frames of 30: %v\n%s\nthe server logged:\n%s", n, err, tail(out, 3000), r.logs)
					}
				})
			}
		})
	}
}

// TestFFmpegPlays reads the room with ffmpeg in every token form and decodes
// 30 video frames.
func TestFFmpegPlays(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	r := newRig(t, false)
	log := publish(t, r.url("live", "encoder:sk_live", ""), "tcp", "libopus")
	r.waitTracks(t, "live", 2, log)
	for _, f := range playForms {
		t.Run(f.name, func(t *testing.T) {
			n, out, err := ffmpegPlay(t, r.url(f.path, f.userinfo, f.query), "tcp", 30)
			if err != nil || n < 30 {
				t.Fatalf("ffmpeg decoded %d frames of 30: %v\n%s\nthe server logged:\n%s", n, err, tail(out, 3000), r.logs)
			}
		})
	}
}

// TestGStreamerPublishes publishes with rtspclientsink (which picks Digest
// when offered) with the stream key, a token in the path, in the query, and as
// the Basic password in a room without a stream key, where Digest is not
// offered; rtspsrc and ffmpeg decode what it sent.
func TestGStreamerPublishes(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	needGStreamer(t, "rtspclientsink", "x264enc", "opusenc", "videotestsrc", "audiotestsrc", "rtspsrc", "playbin3")
	for _, c := range []struct{ name, room, path, userinfo, query string }{
		{"stream key (Digest)", "live", "live", "encoder:sk_live", ""},
		{"token in path", "live", "live/token/publisher-token", "", ""},
		{"token in query", "live", "live", "", "token=publisher-token"},
		{"token as Basic password", "nokey", "nokey", "encoder:publisher.basic.token", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, false)
			log := gstPublish(t, r.url(c.path, c.userinfo, c.query))
			r.waitTracks(t, c.room, 2, log)
			n, out, err := gstPlay(t, r.url(c.room+"/token/viewer-token", "", ""), "tcp", 30)
			if err != nil || n < 30 {
				t.Fatalf("rtspsrc decoded %d frames of 30: %v\n%s\nwhat rtspsrc decided:\n%s\nrtspclientsink said:\n%s\nthe server logged:\n%s",
					n, err, tail(out, 3000), gstDiagnosis(out), log, r.logs)
			}
			n, out, err = ffmpegPlay(t, r.url(c.room, "", "token=viewer-token"), "tcp", 30)
			if err != nil || n < 30 {
				t.Fatalf("ffmpeg decoded %d frames of 30: %v\n%s\nthe server logged:\n%s", n, err, tail(out, 3000), r.logs)
			}
		})
	}
}
