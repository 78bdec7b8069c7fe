package main

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
	"regexp"
	"strconv"
	"strings"
	"time"
)

// benchServer is a lectern process the bench started on loopback, with its own
// data directory and a known admin key.
type benchServer struct {
	cmd      *exec.Cmd
	dir      string
	url      string // http://127.0.0.1:port
	rtspHost string // 127.0.0.1:port
	adminKey string
	// debugURL is the server's pprof endpoint (its debug_addr), if it has one.
	debugURL string
	// serverPID is the server process, for its CPU time.
	serverPID int
	stderr    bytes.Buffer
}

var bannerRTSP = regexp.MustCompile(`RTSP:\s+rtsp://(\S+)/\{room\}`)
var bannerOpen = regexp.MustCompile(`Open:\s+(http://\S+)/`)

// startServer runs bin with free loopback ports and waits until it is ready.
// env adds NAME=value settings, such as LECTERN_DATABASE_URL.
func startServer(ctx context.Context, bin string, env ...string) (*benchServer, error) {
	dir, err := os.MkdirTemp("", "lectern-bench-")
	if err != nil {
		return nil, err
	}
	s := &benchServer{dir: dir, adminKey: "bench-admin-key-" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	udp, err := freeUDPPort()
	if err != nil {
		return nil, err
	}
	s.cmd = exec.CommandContext(ctx, bin)
	s.cmd.Env = append(os.Environ(),
		"LECTERN_HTTP_ADDR=127.0.0.1:0", "LECTERN_RTSP_ADDR=127.0.0.1:0", "LECTERN_RTSP_UDP_PORT=0",
		"LECTERN_WEBRTC_UDP_PORT="+strconv.Itoa(udp), "LECTERN_DATA_DIR="+dir, "LECTERN_ADMIN_KEY="+s.adminKey,
		"LECTERN_LOG_LEVEL=warn")
	s.cmd.Env = append(s.cmd.Env, env...)
	s.cmd.Stderr = &s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := bannerOpen.FindStringSubmatch(sc.Text()); m != nil {
				s.url = m[1]
			}
			if m := bannerRTSP.FindStringSubmatch(sc.Text()); m != nil {
				s.rtspHost = m[1]
				ready <- nil
				break
			}
		}
		io.Copy(io.Discard, stdout)
		ready <- errors.New("the server exited before it was ready")
	}()
	select {
	case err = <-ready:
	case <-time.After(30 * time.Second):
		err = errors.New("the server was not ready within 30 s")
	}
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("%w: %s", err, s.stderr.String())
	}
	s.serverPID = s.cmd.Process.Pid
	return s, nil
}

// attachServer describes a server someone else started: its URL, admin key,
// process (for CPU time) and pprof URL (may be empty).
func attachServer(url, adminKey string, pid int, debugURL string) *benchServer {
	return &benchServer{url: strings.TrimSuffix(url, "/"), adminKey: adminKey, serverPID: pid, debugURL: strings.TrimSuffix(debugURL, "/")}
}

// freeTCPPort returns a loopback TCP port that was free a moment ago, for a
// setting whose chosen port the server does not report (debug_addr).
func freeTCPPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// freeUDPPort returns a UDP port that was free a moment ago.
func freeUDPPort() (int, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port, nil
}

func (s *benchServer) pid() int { return s.serverPID }

// stop ends the server and removes its data, if the bench started it.
func (s *benchServer) stop() {
	if s.cmd == nil {
		return
	}
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
	}
	os.RemoveAll(s.dir)
}

// api calls the server's REST API with the admin key and decodes the answer.
func (s *benchServer) api(ctx context.Context, method, path, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.adminKey)
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

// streamKey creates room (if needed) and returns a new stream key for it.
func (s *benchServer) streamKey(ctx context.Context, room string) (string, error) {
	if err := s.ensureRoom(ctx, room); err != nil {
		return "", err
	}
	var k struct {
		StreamKey string `json:"stream_key"`
	}
	err := s.api(ctx, "POST", "/api/v1/rooms/"+room+"/stream-key", "", &k)
	return k.StreamKey, err
}

// token mints a token for identity in room with the given grant JSON.
func (s *benchServer) token(ctx context.Context, room, identity, grant string) (string, error) {
	if err := s.ensureRoom(ctx, room); err != nil {
		return "", err
	}
	var t struct {
		Token string `json:"token"`
	}
	err := s.api(ctx, "POST", "/api/v1/tokens", fmt.Sprintf(`{"identity":%q,"rooms":{%q:%s}}`, identity, room, grant), &t)
	return t.Token, err
}

func (s *benchServer) ensureRoom(ctx context.Context, room string) error {
	if err := s.api(ctx, "GET", "/api/v1/rooms/"+room, "", nil); err == nil {
		return nil
	}
	return s.api(ctx, "POST", "/api/v1/rooms", fmt.Sprintf(`{"id":%q,"name":%q}`, room, room), nil)
}

// processCPU returns the user+system CPU time a process has used (Linux /proc).
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	rest := string(data[bytes.LastIndexByte(data, ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, nil
}
