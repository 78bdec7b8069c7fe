package launch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// script writes an executable shell script that stands in for lectern.
func script(t *testing.T, body string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fake-lectern")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestStartReadsTheBanner: Start returns once the banner names both
// addresses, with the settings it was given in the environment, and Close
// stops the process and removes its directory.
func TestStartReadsTheBanner(t *testing.T) {
	bin := script(t, `echo "starting"
echo "  Open:      http://127.0.0.1:4321/"
echo "  RTSP:      rtsp://127.0.0.1:8555/{room}"
echo "$LECTERN_ADMIN_KEY $LECTERN_HTTP_ADDR $EXTRA" >&2
exec sleep 60
`)
	s, err := Start(context.Background(), bin, Options{Env: []string{"EXTRA=yes"}, Name: "launch-test"})
	if err != nil {
		t.Fatal(err)
	}
	if s.URL != "http://127.0.0.1:4321" || s.RTSPHost != "127.0.0.1:8555" {
		t.Errorf("URL %q, RTSP %q", s.URL, s.RTSPHost)
	}
	if !strings.HasPrefix(filepath.Base(s.Dir), "launch-test-") || !strings.HasPrefix(s.AdminKey, "launch-test-admin-") {
		t.Errorf("dir %q, admin key %q", s.Dir, s.AdminKey)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.Log(), s.AdminKey+" 127.0.0.1:0 yes") {
		if time.Now().After(deadline) {
			t.Fatalf("the process did not get its settings; it wrote %q", s.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("the server's directory is still there: %v", err)
	}
	s.Close() // twice is fine
}

// TestStartFailsWhenTheServerExits: a server that dies before its banner
// is an error that carries what it wrote.
func TestStartFailsWhenTheServerExits(t *testing.T) {
	bin := script(t, "echo 'config: bad key' >&2\nexit 2\n")
	_, err := Start(context.Background(), bin, Options{})
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "config: bad key") {
		t.Fatalf("err = %v", err)
	}
}
