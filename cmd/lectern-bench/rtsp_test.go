package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lectern/hls/hlstest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// serverBinary builds ./cmd/lectern once per test run.
func serverBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lectern-bench-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "lectern")
		out, err := exec.Command("go", "build", "-o", binPath, "../lectern").CombinedOutput()
		if err != nil {
			buildErr = &exec.ExitError{Stderr: out}
		}
	})
	if buildErr != nil {
		t.Fatalf("build lectern: %v", buildErr)
	}
	return binPath
}

// TestRTSPBench runs the RTSP fan-out bench briefly, for correctness.
func TestRTSPBench(t *testing.T) {
	hlstest.NeedFFmpeg(t)
	var out bytes.Buffer
	start := time.Now()
	err := run(t.Context(), []string{"rtsp", "--server-bin", serverBinary(t), "--readers", "3", "--duration", "2s", "--size", "320x180"}, &out)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[2], "| 3 |") {
		t.Fatalf("report:\n%s", out.String())
	}
	cells := strings.Split(lines[2], "|")
	if strings.TrimSpace(cells[3]) == "0" {
		t.Errorf("no packets received: %s", lines[2])
	}
	t.Logf("%s (in %v)", lines[2], time.Since(start).Round(time.Millisecond))
}
