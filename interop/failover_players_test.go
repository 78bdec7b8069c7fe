package interop

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
)

// The HLS players of the failover test, each reporting to a timeline what it
// has played, from its own evidence, until the test ends.

// publishedFPS is the encoder's frame rate (encoderLoop): decoded frames
// over it are media seconds.
const publishedFPS = 25

// ffmpegProgress is a line of ffmpeg's -progress output.
var ffmpegProgress = regexp.MustCompile(`^frame=(\d+)$`)

// playFFmpeg reads url with ffmpeg's HLS demuxer and decodes the video,
// reading its decoded frame count from -progress.
func playFFmpeg(t *testing.T, url string) *timeline {
	l := newTimeline("ffmpeg")
	p := start(t, t.Context(), "ffmpeg", "-hide_banner", "-loglevel", "warning", "-nostdin", "-nostats",
		"-i", url, "-map", "0:v:0", "-f", "null", "-progress", "pipe:1", "-stats_period", "0.2", "-")
	go func() {
		l.end(followLines(p, func(line string) {
			if m := ffmpegProgress.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[1])
				l.read(float64(n) / publishedFPS)
			}
		}))
	}()
	return l
}

// followLines feeds every line p prints to each until p exits, and says how
// it exited.
func followLines(p *process, each func(string)) string {
	for {
		select {
		case line := <-p.lines:
			each(line)
		case <-p.exited:
			return fmt.Sprintf("exited: %v", p.err)
		}
	}
}

// playGohlslib plays url with gohlslib's client, counting the video access
// units it hands over. The client stops at its first failed request.
func playGohlslib(t *testing.T, url string) *timeline {
	l := newTimeline("gohlslib")
	frames := 0
	hc := &http.Client{Timeout: 20 * time.Second}
	c := &gohlslib.Client{URI: url, HTTPClient: hc}
	// Without these the client logs every download.
	c.OnDownloadPart = func(string) {}
	c.OnDownloadPrimaryPlaylist = func(string) {}
	c.OnDownloadStreamPlaylist = func(string) {}
	c.OnDownloadSegment = func(string) {}
	c.OnDecodeError = func(error) {}
	c.OnTracks = func(tracks []*gohlslib.Track) error {
		for _, tr := range tracks {
			if _, ok := tr.Codec.(*codecs.H264); ok {
				c.OnDataH26x(tr, func(_, _ int64, _ [][]byte) {
					frames++ // one callback goroutine per track
					l.read(float64(frames) / publishedFPS)
				})
			}
		}
		return nil
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		err := c.Wait2()
		l.end(fmt.Sprintf("client ended: %v", err))
		close(done)
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
		hc.CloseIdleConnections()
	})
	return l
}

// vlcDisplayed is the line of VLC's rc "stats" answer with the video frames
// it displayed (decoded ones run ahead, into its buffer).
var vlcDisplayed = regexp.MustCompile(`frames displayed\s*:\s*(\d+)`)

// playVLC plays url with VLC 3 (a plain HLS player: it ignores the LL tags),
// its picture going to a dummy output, and asks its remote-control interface
// for the frames it displayed every quarter second.
func playVLC(t *testing.T, url string) *timeline {
	l := newTimeline("vlc")
	// Not t.TempDir(): VLC may run as another user (below).
	dir, err := os.MkdirTemp("", "lectern-vlc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "rc.sock")
	args := []string{"--intf=oldrc", "--rc-fake-tty", "--rc-unix=" + sock, "--no-interact", "--vout=vdummy", "--no-audio", url}
	name := "vlc"
	if os.Geteuid() == 0 {
		// VLC refuses to run as root (CI runs as root): run it as nobody,
		// with a home and a directory for its socket it may write.
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		name = "setpriv"
		args = append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "env", "HOME=" + dir, "vlc"}, args...)
	}
	p := start(t, t.Context(), name, args...)
	go func() { l.end(followLines(p, func(string) {})) }()
	go func() {
		var conn net.Conn
		for conn == nil {
			select {
			case <-p.exited:
				return
			case <-time.After(100 * time.Millisecond): // VLC is another process: ask again, paced
			}
			conn, _ = net.Dial("unix", sock)
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		for {
			select {
			case <-p.exited:
				return
			case <-time.After(250 * time.Millisecond):
			}
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := conn.Write([]byte("stats\n")); err != nil {
				return
			}
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if m := vlcDisplayed.FindStringSubmatch(line); m != nil {
					n, _ := strconv.Atoi(m[1])
					l.read(float64(n) / publishedFPS)
				}
				if strings.Contains(line, "end of statistical info") {
					break
				}
			}
		}
	}()
	return l
}

// browserSample is one reading of a page of the failover driver.
type browserSample struct {
	videoReading
	State      string           `json:"state"`
	LastError  string           `json:"lastError"`
	Unstuck    int              `json:"unstuck"`
	ErrorCount int              `json:"errorCount"`
	Errors     []map[string]any `json:"errors"`
	Error      string           `json:"error"`
}

// playChromium runs js/failover.mjs with pages in one Chromium and returns a
// timeline for each page, by name, the latest reading of a page, and a stop
// that closes the browser (call it before the test returns: the test's
// context kills the driver without letting it close the browser).
func playChromium(t *testing.T, origin string, pages []map[string]any) (map[string]*timeline, func(name string) browserSample, func()) {
	job, _ := json.Marshal(map[string]any{"chromium": chromiumBin, "origin": origin, "pages": pages})
	lines := map[string]*timeline{}
	for _, pg := range pages {
		name := pg["name"].(string)
		lines[name] = newTimeline(name)
	}
	var mu sync.Mutex
	latest := map[string]browserSample{}
	p := start(t, t.Context(), "node", filepath.Join(jsDir, "failover.mjs"), string(job))
	go func() {
		why := followLines(p, func(line string) {
			rest, ok := strings.CutPrefix(line, "SAMPLE ")
			if !ok {
				return
			}
			name, raw, _ := strings.Cut(rest, " ")
			l := lines[name]
			var s browserSample
			if l == nil || json.Unmarshal([]byte(raw), &s) != nil {
				return
			}
			if s.Found {
				l.read(s.CurrentTime)
				l.note(fmt.Sprintf("t=%.2f ready=%d buffered=[%s] paused=%v state=%s", s.CurrentTime, s.ReadyState, s.Buffered, s.Paused, s.State))
			}
			if s.State != "" {
				l.setState(s.State)
			}
			mu.Lock()
			latest[name] = s
			mu.Unlock()
		})
		for _, l := range lines {
			l.end("the browser driver " + why)
		}
	}()
	return lines, func(name string) browserSample {
		mu.Lock()
		defer mu.Unlock()
		return latest[name]
	}, p.stop
}
