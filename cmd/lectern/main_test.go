package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"lectern/storage/storagetest"
)

// TestMain lets the test binary stand in for the lectern binary when the tests
// start it as a child process, and otherwise fails the tests when a goroutine
// outlives them: every run() in-process must stop everything it started.
func TestMain(m *testing.M) {
	if os.Getenv("LECTERN_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

var (
	urlLine = regexp.MustCompile(`Open:\s+(http://\S+)/`)
	keyLine = regexp.MustCompile(`Admin key:\s+(lk_\S+)`)
)

// TestNewcomerStart runs the binary as a newcomer does, with no configuration but
// a free port, in an empty directory: it must be ready within 5 s, keep SQLite in
// ./data, print the URL and admin key, and stop cleanly on SIGTERM.
func TestNewcomerStart(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "LECTERN_TEST_RUN_MAIN=1", "LECTERN_HTTP_ADDR=127.0.0.1:0",
		"LECTERN_RTSP_ADDR=127.0.0.1:0", "LECTERN_RTSP_UDP_PORT=0", "LECTERN_WEBRTC_UDP_PORT=0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	found := make(chan [2]string, 1)
	go func() {
		var url, key string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := urlLine.FindStringSubmatch(sc.Text()); m != nil {
				url = m[1]
			}
			if m := keyLine.FindStringSubmatch(sc.Text()); m != nil {
				key = m[1]
				found <- [2]string{url, key}
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	var url, key string
	select {
	case got := <-found:
		url, key = got[0], got[1]
	case <-time.After(5 * time.Second):
		t.Fatalf("no URL and admin key printed within 5 s; stderr:\n%s", stderr.String())
	}
	ready, err := http.Get(url + "/readyz")
	if err != nil || ready.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", ready, err)
	}
	ready.Body.Close()
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("healthy after %v, want under 5 s", took)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "lectern.db")); err != nil {
		t.Errorf("SQLite file: %v", err)
	}
	req, _ := http.NewRequest("POST", url+"/api/v1/rooms", strings.NewReader(`{"name":"First"}`))
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("create room with the printed key: %v %v", res, err)
	}
	res.Body.Close()

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v; stderr:\n%s", err, stderr.String())
	}
	for _, secret := range []string{key} {
		if strings.Contains(stderr.String(), secret) {
			t.Error("the admin key reached the log")
		}
	}
	if !strings.Contains(stderr.String(), "lectern stopped") {
		t.Errorf("no clean stop in the log:\n%s", stderr.String())
	}
}

// cleanEnv is the environment without LECTERN_* settings of the parent.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LECTERN_") {
			env = append(env, kv)
		}
	}
	return env
}

// server runs run() in-process until the returned stop is called.
func server(t *testing.T, env map[string]string) (url, banner string, stop func()) {
	t.Helper()
	env = withFreePorts(env)
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- run(ctx, nil, envOf(env), &out, io.Discard, ready) }()
	select {
	case url = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	}
	return url, out.String(), func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
}

func call(t *testing.T, method, url, auth, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+auth)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

// TestRestartKeepsState restarts the server on the same data dir or database:
// rooms, members, the admin key and tokens signed before the restart all survive.
func TestRestartKeepsState(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		env := map[string]string{"LECTERN_HTTP_ADDR": "127.0.0.1:0", "LECTERN_DATA_DIR": b.DataDir, "LECTERN_DATABASE_URL": b.DatabaseURL}
		url, banner, stop := server(t, env)
		m := keyLine.FindStringSubmatch(banner)
		if m == nil {
			t.Fatalf("no admin key in the first banner:\n%s", banner)
		}
		key := m[1]
		if code, _ := call(t, "POST", url+"/api/v1/rooms", key, `{"id":"kept","name":"Kept","mode":"webinar"}`); code != 201 {
			t.Fatalf("create room: %d", code)
		}
		if code, _ := call(t, "POST", url+"/api/v1/rooms/kept/members", key, `{"identity":"ann","preset":"host"}`); code != 201 {
			t.Fatalf("create member: %d", code)
		}
		_, tok := call(t, "POST", url+"/api/v1/tokens", key, `{"identity":"ann","rooms":{"kept":{}}}`)
		token, _ := tok["token"].(string)
		stop()

		url, banner, stop = server(t, env)
		defer stop()
		if keyLine.MatchString(banner) {
			t.Errorf("a second admin key was generated on restart:\n%s", banner)
		}
		if code, room := call(t, "GET", url+"/api/v1/rooms/kept", key, ""); code != 200 || room["mode"] != "webinar" {
			t.Errorf("room after restart: %d %v", code, room)
		}
		if code, member := call(t, "GET", url+"/api/v1/rooms/kept/members/ann", key, ""); code != 200 || member["identity"] != "ann" {
			t.Errorf("member after restart: %d %v", code, member)
		}
		if code, room := call(t, "GET", url+"/api/v1/rooms/kept", token, ""); code != 200 || room["pin"] == nil {
			t.Errorf("token from before the restart: %d %v", code, room)
		}
	})
}

// withFreePorts lets the OS choose every port the test does not set.
func withFreePorts(env map[string]string) map[string]string {
	out := map[string]string{"LECTERN_HTTP_ADDR": "127.0.0.1:0", "LECTERN_RTSP_ADDR": "127.0.0.1:0",
		"LECTERN_RTSP_UDP_PORT": "0", "LECTERN_WEBRTC_UDP_PORT": "0"}
	for k, v := range env {
		out[k] = v
	}
	return out
}
