package interop

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Where the clients are: each can be moved with an environment variable
// (.ci/run sets them), else the Debian path or the name on $PATH.
var (
	firefoxBin  = envOr("LECTERN_TEST_FIREFOX", "firefox-esr")
	chromiumBin = envOr("LECTERN_TEST_CHROMIUM", "/usr/bin/chromium")
	// pythonBin must import gi with GStreamer's typelibs (Gst, GstWebRTC,
	// GstSdp): Debian's python3 with python3-gi and gir1.2-gst-plugins-bad-1.0.
	pythonBin = envOr("LECTERN_TEST_GST_PYTHON", "/usr/bin/python3")
	// jsDir holds package.json and, after npm ci, node_modules.
	jsDir = envOr("LECTERN_TEST_INTEROP_JS", "js")
)

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// need skips the test when a client is missing, except in CI, where the
// suite must run whole.
func need(t *testing.T, what string, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI needs %s: %s", what, why)
	}
	t.Skipf("no %s: %s", what, why)
}

// needBin needs a program on $PATH (or at a path).
func needBin(t *testing.T, bins ...string) {
	t.Helper()
	for _, bin := range bins {
		_, err := exec.LookPath(bin)
		need(t, bin, err == nil, fmt.Sprint(err))
	}
}

// needGst needs gst-launch-1.0 and the named elements.
func needGst(t *testing.T, elements ...string) {
	t.Helper()
	needBin(t, "gst-launch-1.0", "gst-inspect-1.0")
	for _, e := range elements {
		err := exec.Command("gst-inspect-1.0", e).Run()
		need(t, "GStreamer element "+e, err == nil, "gst-inspect-1.0: "+fmt.Sprint(err))
	}
}

// process is a client running in the background until the test ends. Its
// output (stdout and stderr) is kept and shown if the test fails.
type process struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    strings.Builder
	lines  chan string
	exited chan struct{}
	err    error
}

// start runs name with args until the test ends (or ctx is done), feeding
// every line of its output to lines (dropped when nobody reads).
func start(t *testing.T, ctx context.Context, name string, args ...string) *process {
	t.Helper()
	p := &process{lines: make(chan string, 256), exited: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, name, args...)
	p.cmd.WaitDelay = 5 * time.Second
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		io.Copy(io.Discard, r)
	}()
	go func() {
		p.err = p.cmd.Wait()
		w.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.output())
		}
	})
	return p
}

// stop ends the process (politely first) and waits for it.
func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// all is everything the process printed so far.
func (p *process) all() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// output is the end of what the process printed, to show.
func (p *process) output() string {
	s := p.all()
	if len(s) > 8000 {
		s = "...\n" + s[len(s)-8000:]
	}
	return s
}

// wait waits for the process to exit by itself.
func (p *process) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(within):
		t.Fatalf("%s still running after %v", p.cmd.Path, within)
		return nil
	}
}

var program struct {
	once sync.Once
	room string
	err  error
}

// programRoom is a broadcast room (webinar, HLS on) into which ffmpeg
// publishes a 640x360 25 fps H.264 test pattern (baseline, a keyframe a
// second) and Opus over RTSP, started once for every test that watches it.
func programRoom(t *testing.T) (*server, string) {
	t.Helper()
	needBin(t, "ffmpeg", "ffprobe")
	s := lectern(t)
	program.once.Do(func() {
		program.err = fmt.Errorf("the program did not start (see the first test that asked for it)")
		room := s.roomNamed(t, "program", true)
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, "ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-re"},
			append(testPattern(640, 360), "-f", "rtsp", "-rtsp_transport", "tcp", s.rtspPublishURL(t, room))...)...)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if program.err = cmd.Start(); program.err != nil {
			cancel()
			return
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		cleanups = append(cleanups, func() { cancel(); <-exited })
		program.room = room
		waitOnAir(t, s, room)
		select {
		case <-exited:
			program.err = fmt.Errorf("ffmpeg publishing the program exited: %s", out.String())
		default:
			program.err = nil
		}
	})
	if program.err != nil {
		t.Fatal(program.err)
	}
	return s, program.room
}

// testPattern is ffmpeg's input and encoder arguments for a live test
// pattern: H.264 constrained baseline (no B-frames) with a keyframe every
// second and Opus, as docs/clients.md tells encoders to send.
func testPattern(width, height int) []string {
	return []string{"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=25", width, height),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
		"-pix_fmt", "yuv420p", "-g", "25", "-c:a", "libopus", "-b:a", "64k"}
}

// waitOnAir waits until the broadcast room's HLS playlist answers.
func waitOnAir(t *testing.T, s *server, room string) {
	t.Helper()
	s.waitHLS(t, s.hlsURL(t, room))
}

var ffmpegFrame = regexp.MustCompile(`frame=\s*(\d+)`)

// ffmpegDecode has ffmpeg read url and decode its video until frames frames
// came out (or a minute passed), and returns how many did.
func ffmpegDecode(t *testing.T, frames int, input ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	args := append([]string{"-hide_banner", "-nostats", "-loglevel", "error", "-stats_period", "1", "-progress", "pipe:1"}, input...)
	args = append(args, "-map", "0:v:0", "-frames:v", strconv.Itoa(frames), "-f", "null", "-")
	out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput()
	got := 0
	for _, m := range ffmpegFrame.FindAllStringSubmatch(string(out), -1) {
		got, _ = strconv.Atoi(m[1])
	}
	if err != nil {
		t.Logf("ffmpeg: %v\n%s", err, lastLines(string(out), 30))
	}
	return got
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
