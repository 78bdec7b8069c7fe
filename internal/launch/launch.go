// Package launch runs a lectern binary (what go build makes of cmd/lectern)
// as a child process for the tools that measure it from outside: the bench
// (cmd/lectern-bench) and the network lab (netlab). The process gets a data
// directory of its own and a known admin key; Start waits for the banner
// that says where it serves. API calls its REST API with that key.
package launch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// Options say how to start the server. Every address left empty is a free
// loopback port.
type Options struct {
	// HTTPAddr is the HTTP listen address (127.0.0.1:0).
	HTTPAddr string
	// UDPPort is the WebRTC media port; 0 lets the server choose.
	UDPPort int
	// Env adds NAME=value settings (LECTERN_DATABASE_URL, ...); later ones win.
	Env []string
	// Name prefixes the data directory and the admin key ("lectern").
	Name string
	// ReadyWithin bounds the wait for the banner (30 s).
	ReadyWithin time.Duration
}

// Server is a started lectern process.
type Server struct {
	// URL is the base URL the banner printed (http://host:port).
	URL string
	// RTSPHost is host:port of its RTSP server.
	RTSPHost string
	// AdminKey is the admin key it was started with.
	AdminKey string
	// Dir is its own directory (its data is in Dir/data); Close removes it.
	Dir string

	cmd  *exec.Cmd
	done chan struct{}

	mu     sync.Mutex
	stderr bytes.Buffer
}

var (
	bannerOpen = regexp.MustCompile(`Open:\s+(http://\S+?)/?$`)
	bannerRTSP = regexp.MustCompile(`RTSP:\s+rtsp://(\S+)/\{room\}`)
)

// Start runs bin and waits until its banner names its HTTP and RTSP
// addresses. Stop it with Close; ctx bounds only the wait.
func Start(ctx context.Context, bin string, o Options) (*Server, error) {
	if o.HTTPAddr == "" {
		o.HTTPAddr = "127.0.0.1:0"
	}
	if o.Name == "" {
		o.Name = "lectern"
	}
	if o.ReadyWithin == 0 {
		o.ReadyWithin = 30 * time.Second
	}
	dir, err := os.MkdirTemp("", o.Name+"-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, AdminKey: o.Name + "-admin-" + strconv.FormatInt(time.Now().UnixNano(), 36), done: make(chan struct{})}
	s.cmd = exec.Command(bin)
	s.cmd.Env = append(os.Environ(),
		"LECTERN_HTTP_ADDR="+o.HTTPAddr, "LECTERN_RTSP_ADDR=127.0.0.1:0", "LECTERN_RTSP_UDP_PORT=0",
		"LECTERN_WEBRTC_UDP_PORT="+strconv.Itoa(o.UDPPort), "LECTERN_DATA_DIR="+filepath.Join(dir, "data"),
		"LECTERN_ADMIN_KEY="+s.AdminKey, "LECTERN_LOG_LEVEL=warn")
	s.cmd.Env = append(s.cmd.Env, o.Env...)
	s.cmd.Stderr = &lockedWriter{mu: &s.mu, w: &s.stderr}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("launch: start %s: %w", bin, err)
	}
	type banner struct{ url, rtsp string }
	ready := make(chan banner, 1)
	go func() {
		defer close(s.done)
		var b banner
		sent := false
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if m := bannerOpen.FindStringSubmatch(line); m != nil {
				b.url = m[1]
			}
			if m := bannerRTSP.FindStringSubmatch(line); m != nil {
				b.rtsp = m[1]
			}
			if !sent && b.url != "" && b.rtsp != "" {
				ready <- b
				sent = true
			}
		}
		io.Copy(io.Discard, stdout)
		s.cmd.Wait()
	}()
	timer := time.NewTimer(o.ReadyWithin)
	defer timer.Stop()
	select {
	case b := <-ready:
		s.URL, s.RTSPHost = b.url, b.rtsp
		return s, nil
	case <-s.done:
		err = errors.New("the server exited before it was ready")
	case <-timer.C:
		err = fmt.Errorf("the server was not ready within %v", o.ReadyWithin)
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.Close()
	return nil, fmt.Errorf("launch: %w: %s", err, s.Log())
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

// PID is the server's process ID.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Log returns what the server wrote to stderr so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// Close stops the server (SIGINT, then SIGKILL after 10 s) and removes its
// directory. It is safe to call twice.
func (s *Server) Close() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		timer := time.NewTimer(10 * time.Second)
		defer timer.Stop()
		select {
		case <-s.done:
		case <-timer.C:
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	os.RemoveAll(s.Dir)
}

// API calls the server's REST API with its admin key (see Call).
func (s *Server) API(ctx context.Context, method, path, body string, out any) error {
	return Call(ctx, s.URL, s.AdminKey, method, path, body, out)
}

// Call sends a JSON request to a lectern server at base with a bearer key
// and decodes a 2xx answer into out (if not nil); other answers are errors
// that carry the body.
func Call(ctx context.Context, base, key, method, path, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}
