// Package miniotest runs a real MinIO server for tests, on a loopback port
// with a temporary directory, that a test can stop and start again (an
// object store outage). The server binary comes from LECTERN_TEST_MINIO (CI
// installs it; see .ci/run) or the PATH.
package miniotest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"lectern/storage/objstore"
)

// EnvBinary names the environment variable with the path of the minio binary.
const EnvBinary = "LECTERN_TEST_MINIO"

// Credentials of the test servers.
const (
	AccessKey = "lectern-test"
	SecretKey = "lectern-test-secret"
)

// startTimeout bounds how long the server may take to answer its health check.
const startTimeout = 30 * time.Second

// Server is a MinIO server owned by one test. Its process is guarded by mu.
type Server struct {
	// Endpoint is the server's host:port; it stays the same across restarts.
	Endpoint string

	t   testing.TB
	bin string
	dir string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// binary finds the minio binary, or skips the test (fails it under CI=true).
func binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		bin, _ = exec.LookPath("minio")
	}
	if bin != "" {
		if _, err := os.Stat(bin); err == nil {
			return bin
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no minio binary (%s=%q); CI must run the MinIO tests", EnvBinary, os.Getenv(EnvBinary))
	}
	t.Skipf("no minio binary: set %s or put minio on the PATH", EnvBinary)
	return ""
}

// Start runs a MinIO server on a free loopback port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: binary(t), dir: t.TempDir(), Endpoint: freeAddr(t)}
	t.Cleanup(s.Stop)
	s.Restart()
	return s
}

// freeAddr finds a loopback port nobody listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Restart starts the server (again, on the same port and data) and waits
// until it is healthy.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(s.bin, "server", s.dir, "--address", s.Endpoint, "--quiet")
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+AccessKey, "MINIO_ROOT_PASSWORD="+SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	logFile, err := os.Create(s.dir + ".log")
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("miniotest: start %s: %v", s.bin, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logFile.Close(); close(done) }()
	s.cmd, s.done = cmd, done
	if err := s.waitHealthy(done); err != nil {
		log, _ := os.ReadFile(s.dir + ".log")
		s.t.Fatalf("miniotest: %v\n%s", err, log)
	}
}

func (s *Server) waitHealthy(exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	url := "http://" + s.Endpoint + "/minio/health/live"
	probe, err := objstore.NewS3(s.Config("miniotest-probe"))
	if err != nil {
		return err
	}
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			// Live answers before the object layer is up: wait for an S3 call too.
			if _, err := probe.List(ctx, "x/"); res.StatusCode == http.StatusOK && err == nil {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("minio exited while starting")
		case <-ctx.Done():
			return fmt.Errorf("minio not healthy after %v", startTimeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop kills the server (as an outage would) and waits for it to exit.
// Restart brings it back with its data. Stop is idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd, s.done = nil, nil
}

// Config returns the S3 configuration of bucket on this server.
func (s *Server) Config(bucket string) objstore.S3Config {
	return objstore.S3Config{Endpoint: s.Endpoint, Bucket: bucket, AccessKey: AccessKey, SecretKey: SecretKey}
}

// Store returns an objstore.S3 for bucket on this server (created on first use).
func (s *Server) Store(bucket string) *objstore.S3 {
	s.t.Helper()
	st, err := objstore.NewS3(s.Config(bucket))
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

// Case is an object store for a table-driven test: the local directory
// store, or a bucket on a MinIO server of the test's own (Server is nil for
// the local store; a test can stop and restart the MinIO one).
type Case struct {
	Name string
	Open func(t *testing.T) (objstore.Store, *Server)
}

// Cases are both kinds of store, the MinIO one holding bucket.
func Cases(bucket string) []Case {
	return []Case{
		{"local", func(t *testing.T) (objstore.Store, *Server) {
			st, err := objstore.NewLocal(t.TempDir() + "/recordings")
			if err != nil {
				t.Fatal(err)
			}
			return st, nil
		}},
		{"minio", func(t *testing.T) (objstore.Store, *Server) {
			srv := Start(t)
			return srv.Store(bucket), srv
		}},
	}
}
