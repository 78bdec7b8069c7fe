package netlab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is a lectern process (the binary that go build makes of
// cmd/lectern) listening for HTTP and WebRTC on the lab's server address only.
type Server struct {
	// URL is the server's base URL, http://10.x.0.1:port.
	URL string

	adminKey string
	dir      string
	cmd      *exec.Cmd
	done     chan struct{}

	mu     sync.Mutex
	stderr bytes.Buffer
}

var openLine = regexp.MustCompile(`Open:\s+(http://\S+?)/?$`)

// ServerConfig says where a lab's server listens.
type ServerConfig struct {
	// IP is the address for HTTP and WebRTC.
	IP net.IP
	// UDPPort is the WebRTC port; 0 lets the server choose.
	UDPPort int
	// Announce, if set, is the address the server gives clients as its ICE
	// candidate instead of IP (the relay's).
	Announce net.IP
}

// StartServer runs bin with a data directory of its own and waits until it
// serves. Stop it with Close.
func StartServer(ctx context.Context, bin string, cfg ServerConfig) (*Server, error) {
	ip := cfg.IP
	dir, err := os.MkdirTemp("", "lectern-netlab-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, adminKey: "netlab-admin-" + strconv.FormatInt(time.Now().UnixNano(), 36), done: make(chan struct{})}
	s.cmd = exec.Command(bin)
	s.cmd.Env = append(os.Environ(),
		"LECTERN_HTTP_ADDR="+ip.String()+":0", "LECTERN_RTSP_ADDR=127.0.0.1:0", "LECTERN_RTSP_UDP_PORT=0",
		"LECTERN_WEBRTC_UDP_PORT="+strconv.Itoa(cfg.UDPPort), "LECTERN_WEBRTC_LISTEN_IP="+ip.String(), "LECTERN_WEBRTC_LOOPBACK=false",
		"LECTERN_DATA_DIR="+filepath.Join(dir, "data"), "LECTERN_ADMIN_KEY="+s.adminKey, "LECTERN_LOG_LEVEL=warn")
	if cfg.Announce != nil {
		s.cmd.Env = append(s.cmd.Env, "LECTERN_WEBRTC_PUBLIC_IPS="+cfg.Announce.String())
	}
	s.cmd.Stderr = &lockedWriter{mu: &s.mu, w: &s.stderr}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("netlab: start %s: %w", bin, err)
	}
	ready := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := openLine.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
				ready <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
		s.cmd.Wait()
	}()
	select {
	case s.URL = <-ready:
	case <-s.done:
		err = errors.New("the server exited before it was ready")
	case <-time.After(60 * time.Second):
		err = errors.New("the server was not ready within 60 s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("netlab: %w: %s", err, s.Log())
	}
	return s, nil
}

// lockedWriter serializes writes to w (exec copies stderr on its goroutine).
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Log returns what the server wrote to stderr so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// Close stops the server (SIGINT, then SIGKILL after 10 s) and removes its
// data. It is safe to call twice.
func (s *Server) Close() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	os.RemoveAll(s.dir)
}

// api calls the REST API with the admin key and decodes the answer into out.
func (s *Server) api(ctx context.Context, method, path, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.adminKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		return fmt.Errorf("netlab: %s %s: %d %s", method, path, res.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// CreateRoom creates a conference room.
func (s *Server) CreateRoom(ctx context.Context, room string) error {
	return s.api(ctx, "POST", "/api/v1/rooms", fmt.Sprintf(`{"id":%q,"name":%q}`, room, room), nil)
}

// Token mints a token for identity in room: the member preset if publish,
// else the viewer preset (subscribe only).
func (s *Server) Token(ctx context.Context, room, identity string, publish bool) (string, error) {
	preset := "viewer"
	if publish {
		preset = "member"
	}
	var t struct {
		Token string `json:"token"`
	}
	err := s.api(ctx, "POST", "/api/v1/tokens", fmt.Sprintf(`{"identity":%q,"rooms":{%q:{"preset":%q}}}`, identity, room, preset), &t)
	return t.Token, err
}

// Metrics returns the server's lectern_sfu_* samples from /metrics, summed
// over their labels.
func (s *Server) Metrics(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.URL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.adminKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("netlab: /metrics: %s", res.Status)
	}
	return parseMetrics(res.Body, "lectern_sfu_")
}

// parseMetrics sums Prometheus text samples whose names start with prefix.
func parseMetrics(r io.Reader, prefix string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			// Labels may hold spaces: the value follows the closing brace.
			end := strings.LastIndexByte(line, '}')
			if end < 0 {
				continue
			}
			name, rest = line[:i], strings.TrimSpace(line[end+1:])
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	return out, sc.Err()
}
