package netlab

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	full      = flag.Bool("netlab.full", false, "run every scenario of issue 13 instead of the short one")
	phaseTime = flag.Duration("netlab.phase", 60*time.Second, "length of each phase with -netlab.full")
	noisy     = flag.Bool("netlab.noisy", false, "publish NoisyCamera (needs ffmpeg) instead of Chromium's pattern")
)

// needLab skips the test when the lab cannot run here (not root, a tool
// missing), except in CI, where that fails it.
func needLab(t *testing.T) {
	t.Helper()
	if err := Missing(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs the network lab: %v", err)
		}
		t.Skipf("no network lab here: %v", err)
	}
}

// buildServer builds cmd/lectern into the test's temporary directory.
func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lectern")
	out, err := exec.Command("go", "build", "-o", bin, "lectern/cmd/lectern").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestStepDown runs Short: a simulcast publisher and a viewer on layer auto
// whose link drops from 3 Mbit/s to 400 kbit/s. The viewer must be decoding
// the camera on 3 Mbit/s, step down to a layer of 360p or less within 15 s
// of the drop (issue 13 asks for 3 s; CI's machine is loaded) and keep
// decoding, without taking more than the link. With -netlab.full it runs
// every scenario and logs their table instead.
func TestStepDown(t *testing.T) {
	needLab(t)
	bin := buildServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	env := Env{Bin: bin, Logf: t.Logf}
	if *noisy {
		path, err := NoisyCamera(ctx)
		if err != nil {
			t.Fatal(err)
		}
		env.Camera = path
	}
	if *full {
		var results []*Result
		for _, sc := range Full(*phaseTime) {
			r, err := Run(ctx, env, sc)
			if err != nil {
				t.Errorf("%s: %v", sc.Name, err)
				continue
			}
			results = append(results, r)
		}
		var b strings.Builder
		WriteTable(&b, results)
		t.Logf("\n%s", b.String())
		return
	}
	r, err := Run(ctx, env, Short())
	if r != nil {
		assertGone(t, r.LabID)
	}
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	WriteTable(&b, []*Result{r})
	t.Logf("\n%s", b.String())
	if len(r.Results) != 2 {
		t.Fatalf("%d phase results, want 2", len(r.Results))
	}
	wide, narrow := r.Results[0], r.Results[1]
	if wide.Frames < 30 {
		t.Errorf("3 Mbit/s: the viewer decoded %d frames of the camera, want 30 or more", wide.Frames)
	}
	if narrow.Reached < 0 || narrow.Reached > 15*time.Second {
		t.Errorf("400 kbit/s: the camera reached %dp after %v, want within 15 s; heights %v", Q, narrow.Reached, narrow.Heights)
	}
	if narrow.Frames < 60 {
		t.Errorf("400 kbit/s: the viewer decoded %d frames of the camera in 20 s, want 60 or more", narrow.Frames)
	}
	// tbf cannot let more through than the rate (plus its burst).
	if narrow.RecvKbps > 400*1.1 || narrow.RecvKbps <= 0 {
		t.Errorf("400 kbit/s: the viewer received %.0f kbit/s, want (0, 440]", narrow.RecvKbps)
	}
}

// assertGone fails the test if a namespace of the lab is still there.
func assertGone(t *testing.T, id string) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	if strings.Contains(string(out), "lectern-"+id+"-") {
		t.Errorf("the lab's namespaces outlived it:\n%s", out)
	}
}

// TestSweep: a lab whose process died (a test killed at its timeout) is
// removed by the next lab: its namespaces, addresses and record.
func TestSweep(t *testing.T) {
	needLab(t)
	ctx := context.Background()
	lab, err := NewLab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	if _, err := lab.AddNode(ctx, "viewer"); err != nil {
		t.Fatal(err)
	}
	// Hand the record to a process that has exited.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(labDir, lab.ID)
	if err := os.WriteFile(record, fmt.Appendf(nil, "%d %d\n", dead.Process.Pid, lab.subnet), 0o644); err != nil {
		t.Fatal(err)
	}
	next, err := NewLab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	assertGone(t, lab.ID)
	if _, err := os.Stat(record); !os.IsNotExist(err) {
		t.Errorf("the dead lab's record is still there: %v", err)
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(lab.ServerIP) {
			t.Errorf("the dead lab's address %s is still on the host", lab.ServerIP)
		}
	}
}

// TestJoins times a few joins of a Chromium viewer over WHEP and with the
// pages' client while a Chromium publisher is live (issue 13, point 7; the
// full measurement is lectern-bench net --joins). Every join must connect
// and show a frame; the times are logged, and bounded only loosely (CI's
// machine is loaded: docs/benchmarks.md has the quiet figures).
func TestJoins(t *testing.T) {
	needLab(t)
	bin := buildServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	runs, err := Joins(ctx, Env{Bin: bin, Logf: t.Logf}, 3, "")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	WriteJoins(&b, runs)
	t.Logf("\n%s", b.String())
	if len(runs) != 6 {
		t.Fatalf("%d joins, want 6", len(runs))
	}
	for i, r := range runs {
		switch {
		case r.Connected == nil || r.Frame == nil:
			t.Errorf("join %d (%s): connected %v, frame %v: want both", i, r.Kind, r.Connected, r.Frame)
		case *r.Frame > 5000:
			t.Errorf("join %d (%s): first frame after %.0f ms, want under 5 s", i, r.Kind, *r.Frame)
		}
	}
}
