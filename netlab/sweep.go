package netlab

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// labDir holds a file per live lab, naming the process that owns it and its
// subnet, so that a later run can remove what a killed one left (a test that
// times out is killed before its cleanups run).
const labDir = "/run/lectern-netlab"

// claim records the lab as owned by this process.
func (l *Lab) claim() error {
	if err := os.MkdirAll(labDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(labDir, l.ID), fmt.Appendf(nil, "%d %d\n", os.Getpid(), l.subnet), 0o644)
}

// release forgets the lab's record.
func (l *Lab) release() { os.Remove(filepath.Join(labDir, l.ID)) }

// sweep removes the namespaces and addresses of labs whose process is gone.
func sweep(ctx context.Context) {
	entries, err := os.ReadDir(labDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		path := filepath.Join(labDir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var pid, subnet int
		if _, err := fmt.Sscanf(string(data), "%d %d", &pid, &subnet); err != nil || alive(pid) {
			continue
		}
		stale := &Lab{ID: e.Name()}
		if out, err := runOut(ctx, "ip", "netns", "list"); err == nil {
			for _, line := range strings.Split(out, "\n") {
				if name, _, _ := strings.Cut(line, " "); strings.HasPrefix(name, "lectern-"+stale.ID+"-") {
					run(ctx, "ip", "netns", "del", name)
				}
			}
		}
		for _, host := range []byte{1, 2} {
			ip := net.IPv4(10, byte(subnet), 0, host).String()
			run(ctx, "ip", "addr", "del", ip+"/32", "dev", "lo")
		}
		os.Remove(path)
	}
}

// alive reports whether a process with pid exists.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// runOut runs a command and returns its standard output.
func runOut(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	return string(out), err
}
