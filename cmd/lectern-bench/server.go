package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"lectern/internal/launch"
)

// benchServer is a lectern server under measure: one the bench started on
// loopback (proc, with its own data directory and a known admin key), or one
// someone else runs (attachServer).
type benchServer struct {
	proc     *launch.Server
	dir      string // the started server's own directory
	url      string // http://127.0.0.1:port
	rtspHost string // 127.0.0.1:port
	adminKey string
	// debugURL is the server's pprof endpoint (its debug_addr), if it has one.
	debugURL string
	// serverPID is the server process, for its CPU time.
	serverPID int
}

// loadGeneratorEnv lifts the caps on sessions per client address: every
// client the bench runs comes from 127.0.0.1, where the defaults (200
// websockets, 50 WHEP sessions, docs/security.md "Caps") would refuse all
// but the first few hundred. The per-room caps stay as a user gets them.
var loadGeneratorEnv = []string{"LECTERN_MAX_SOCKETS_PER_ADDR=1000000", "LECTERN_MAX_WHEP_PER_ADDR=1000000"}

// startServer runs bin with free loopback ports and waits until it is ready.
// env adds NAME=value settings, such as LECTERN_DATABASE_URL; the caps per
// client address are lifted (loadGeneratorEnv) unless env sets them.
func startServer(ctx context.Context, bin string, env ...string) (*benchServer, error) {
	env = append(slices.Clone(loadGeneratorEnv), env...)
	p, err := launch.Start(ctx, bin, launch.Options{Env: env, Name: "lectern-bench"})
	if err != nil {
		return nil, err
	}
	return &benchServer{proc: p, dir: p.Dir, url: p.URL, rtspHost: p.RTSPHost, adminKey: p.AdminKey, serverPID: p.PID()}, nil
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

func (s *benchServer) pid() int { return s.serverPID }

// started reports whether the bench started the server (and can read its CPU time).
func (s *benchServer) started() bool { return s.proc != nil }

// stop ends the server and removes its data, if the bench started it.
func (s *benchServer) stop() {
	if s.proc != nil {
		s.proc.Close()
	}
}

// api calls the server's REST API with the admin key and decodes the answer.
func (s *benchServer) api(ctx context.Context, method, path, body string, out any) error {
	return launch.Call(ctx, s.url, s.adminKey, method, path, body, out)
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
