package interop

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain stops the shared server (and its publishers) after the tests, then
// fails the run when a goroutine of the test process outlives them.
func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// cleanups are the package-wide things to stop after every test ran, last first.
var cleanups []func()

// server is a lectern process started from the binary that go build made of
// cmd/lectern, configured as a newcomer runs it except for loopback ports
// chosen by the OS. One server serves every test; each test makes its own rooms.
type server struct {
	URL     string // http://127.0.0.1:port
	RTSP    string // rtsp://127.0.0.1:port
	Key     string // the admin key printed on first start
	logPath string
	cmd     *exec.Cmd
}

var (
	sharedOnce   sync.Once
	sharedServer *server
	sharedErr    error
)

// lectern returns the shared server, starting it on first use. When the test
// fails, the server's log lines written during it are printed.
func lectern(t *testing.T) *server {
	t.Helper()
	sharedOnce.Do(func() { sharedServer, sharedErr = startServer() })
	if sharedErr != nil {
		t.Fatalf("lectern: %v", sharedErr)
	}
	s := sharedServer
	from := s.logSize()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log during the test:\n%s", s.logSince(from))
		}
	})
	return s
}

var (
	openLine = regexp.MustCompile(`Open:\s+(http://\S+)/`)
	rtspLine = regexp.MustCompile(`RTSP:\s+(rtsp://\S+)/\{room\}`)
	keyLine  = regexp.MustCompile(`Admin key:\s+(lk_\S+)`)
)

func startServer() (*server, error) {
	dir, err := os.MkdirTemp("", "lectern-interop-")
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { os.RemoveAll(dir) })
	bin, err := lecternBin()
	if err != nil {
		return nil, err
	}
	s := &server{logPath: filepath.Join(dir, "lectern.log")}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin)
	s.cmd.Dir = dir
	s.cmd.Env = append(withoutLectern(os.Environ()),
		"LECTERN_HTTP_ADDR=127.0.0.1:0", "LECTERN_RTSP_ADDR=127.0.0.1:0", "LECTERN_RTSP_UDP_PORT=0",
		"LECTERN_WEBRTC_UDP_PORT=0", "LECTERN_DATA_DIR="+filepath.Join(dir, "data"), "LECTERN_LOG_LEVEL=debug")
	s.cmd.Stderr = logFile
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
		logFile.Close()
	})
	banner := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if m := openLine.FindStringSubmatch(line); m != nil {
				s.URL = m[1]
			}
			if m := rtspLine.FindStringSubmatch(line); m != nil {
				s.RTSP = m[1]
			}
			if m := keyLine.FindStringSubmatch(line); m != nil {
				s.Key = m[1]
				banner <- nil
			}
		}
		banner <- fmt.Errorf("the server's output ended without an admin key")
		io.Copy(io.Discard, stdout)
	}()
	select {
	case err = <-banner:
	case <-time.After(60 * time.Second):
		err = fmt.Errorf("no banner within 60 s")
	}
	if err != nil {
		return nil, fmt.Errorf("%v; log:\n%s", err, s.logSince(0))
	}
	return s, nil
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// lecternBin is the lectern binary go build made of cmd/lectern (with -race
// when the tests run with it), built once for every test.
func lecternBin() (string, error) {
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lectern-bin-")
		if err != nil {
			binErr = err
			return
		}
		cleanups = append(cleanups, func() { os.RemoveAll(dir) })
		binPath = filepath.Join(dir, "lectern")
		args := []string{"build", "-o", binPath}
		if raceBuild {
			args = append(args, "-race")
		}
		build := exec.Command(goTool(), append(args, "lectern/cmd/lectern")...)
		if out, err := build.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	return binPath, binErr
}

// goTool is the go command that runs these tests.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func withoutLectern(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "LECTERN_") {
			out = append(out, kv)
		}
	}
	return out
}

func (s *server) logSize() int64 {
	fi, err := os.Stat(s.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logSince is the server's log from the offset on, without the debug lines
// of HTTP requests (players make several a second), its last 12,000 bytes.
func (s *server) logSince(from int64) string {
	b, _ := os.ReadFile(s.logPath)
	if int64(len(b)) < from {
		from = 0
	}
	var kept []byte
	for _, line := range bytes.SplitAfter(b[from:], []byte("\n")) {
		if !bytes.Contains(line, []byte("level=DEBUG msg=http ")) {
			kept = append(kept, line...)
		}
	}
	b = kept
	const most = 12000
	if len(b) > most {
		b = append([]byte("...\n"), b[len(b)-most:]...)
	}
	return string(b)
}

// api calls the REST API with the admin key and decodes the JSON answer;
// anything but want fails the test.
func (s *server) api(t *testing.T, method, path string, body any, want int) map[string]any {
	t.Helper()
	var in io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		in = bytes.NewReader(b)
	}
	return callAPI(t, s.URL, s.Key, method, path, in, want)
}

// callAPI calls base's REST API with key and decodes the JSON answer;
// anything but want fails the test.
func callAPI(t *testing.T, base, key, method, path string, body io.Reader, want int) map[string]any {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, base+"/api/v1"+path, body)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, raw, want)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	return m
}

var roomSeq struct {
	sync.Mutex
	n int
}

// room creates a room named after the test. A broadcast room is a webinar
// with HLS on, which takes H.264 and Opus only; the other is a conference room
// without broadcast, which also takes VP8.
func (s *server) room(t *testing.T, broadcast bool) string {
	t.Helper()
	return s.roomNamed(t, t.Name(), broadcast)
}

var notSlug = regexp.MustCompile(`[^a-z0-9]+`)

// roomNamed creates a room as room does, with a name of the caller's.
func (s *server) roomNamed(t *testing.T, name string, broadcast bool) string {
	t.Helper()
	roomSeq.Lock()
	roomSeq.n++
	id := fmt.Sprintf("r%d-%s", roomSeq.n, notSlug.ReplaceAllString(strings.ToLower(name), "-"))
	roomSeq.Unlock()
	id = strings.Trim(id[:min(len(id), 60)], "-")
	body := map[string]any{"id": id, "name": name, "mode": "conference"}
	if broadcast {
		body["mode"] = "webinar"
		body["broadcast"] = map[string]any{"hls": true}
	}
	s.api(t, "POST", "/rooms", body, 201)
	return id
}

// token mints an access token for room with a preset (speaker publishes,
// viewer subscribes, member does both in a conference room).
func (s *server) token(t *testing.T, room, identity, preset string) string {
	t.Helper()
	m := s.api(t, "POST", "/tokens", map[string]any{"identity": identity, "name": identity,
		"rooms": map[string]any{room: map[string]any{"preset": preset}}}, 201)
	tok, _ := m["token"].(string)
	if tok == "" {
		t.Fatalf("no token in %v", m)
	}
	return tok
}

// streamKey creates the room's encoder stream key.
func (s *server) streamKey(t *testing.T, room string) string {
	t.Helper()
	m := s.api(t, "POST", "/rooms/"+room+"/stream-key", nil, 201)
	return m["stream_key"].(string)
}

// hlsURL is the room's multivariant playlist with a viewer token in the query.
func (s *server) hlsURL(t *testing.T, room string) string {
	return s.URL + "/hls/" + room + "/index.m3u8?token=" + s.token(t, room, "hls-viewer", "viewer")
}

// rtspPlayURL is the room's RTSP URL with a viewer token in the query.
func (s *server) rtspPlayURL(t *testing.T, room string) string {
	return s.RTSP + "/" + room + "?token=" + s.token(t, room, "rtsp-viewer", "viewer")
}

// rtspPublishURL carries the room's stream key as the password.
func (s *server) rtspPublishURL(t *testing.T, room string) string {
	return strings.Replace(s.RTSP, "rtsp://", "rtsp://encoder:"+s.streamKey(t, room)+"@", 1) + "/" + room
}

// waitHLS waits until the room's multivariant playlist answers 200.
func (s *server) waitHLS(t *testing.T, url string) {
	t.Helper()
	waitPlaylist(t, url, 30*time.Second, "the room's HLS playlist")
}

// waitPlaylist waits until url answers 200.
func waitPlaylist(t *testing.T, url string, within time.Duration, what string) {
	t.Helper()
	var last string
	eventually(t, within, what, func() bool {
		res, err := http.Get(url)
		if err != nil {
			last = err.Error()
			return false
		}
		res.Body.Close()
		last = res.Status
		return res.StatusCode == 200
	}, func() string { return last })
}

// eventually polls cond, paced, until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool, detail func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (%s)", what, within, detail())
		}
		// The server and the client are other processes: ask again, paced.
		time.Sleep(250 * time.Millisecond)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
