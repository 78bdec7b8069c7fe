package netlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
)

// Lab is one run's network: an address for the server on the host's loopback
// interface and a namespace per client, all named after the run's random ID so
// that runs side by side (CI runs two) never meet. Close removes everything.
// A mutex guards the node list; nodes are added from one goroutine.
type Lab struct {
	// ID names the run's namespaces and interfaces.
	ID string
	// ServerIP is the host address the server listens on; every client
	// namespace routes to it through its veth.
	ServerIP net.IP
	// RelayIP is the host address of the delay relay, when a scenario has one.
	RelayIP net.IP

	subnet byte // 10.<subnet>.<node>.2 are the clients

	mu    sync.Mutex
	nodes []*Node
}

// NewLab picks a run ID and a free 10.x.0.0/16, and puts the server's
// address on the host's loopback interface.
func NewLab(ctx context.Context) (*Lab, error) {
	id := make([]byte, 3)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	lab := &Lab{ID: hex.EncodeToString(id)}
	sweep(ctx)
	used, err := usedSubnets()
	if err != nil {
		return nil, err
	}
	// Second octets 64-254 from the ID, skipping those in use.
	for i := 0; i < 191; i++ {
		s := byte(64 + (int(id[0])+i)%191)
		if !used[s] {
			lab.subnet = s
			break
		}
	}
	if lab.subnet == 0 {
		return nil, errors.New("netlab: no free 10.x.0.0/16 for the lab")
	}
	if err := lab.claim(); err != nil {
		return nil, err
	}
	lab.ServerIP = net.IPv4(10, lab.subnet, 0, 1).To4()
	if err := run(ctx, "ip", "addr", "add", lab.ServerIP.String()+"/32", "dev", "lo"); err != nil {
		lab.release()
		return nil, err
	}
	lab.RelayIP = net.IPv4(10, lab.subnet, 0, 2).To4()
	if err := run(ctx, "ip", "addr", "add", lab.RelayIP.String()+"/32", "dev", "lo"); err != nil {
		lab.Close()
		return nil, err
	}
	return lab, nil
}

// usedSubnets returns the second octets of 10.x addresses on the host.
func usedSubnets() (map[byte]bool, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	used := map[byte]bool{}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip := n.IP.To4(); ip != nil && ip[0] == 10 {
				used[ip[1]] = true
			}
		}
	}
	return used, nil
}

// closeInto closes the lab and, if *err is nil, sets it to Close's error: a
// deferred call for functions that make a lab of their own.
func (l *Lab) closeInto(err *error) {
	if cerr := l.Close(); cerr != nil && *err == nil {
		*err = cerr
	}
}

// Close deletes every namespace (which deletes its veth pair) and the
// server's address; it returns the first error and is safe to call twice.
func (l *Lab) Close() error {
	l.mu.Lock()
	nodes := l.nodes
	l.nodes = nil
	l.mu.Unlock()
	var first error
	for _, n := range nodes {
		if err := n.close(); err != nil && first == nil {
			first = err
		}
	}
	for _, ip := range []*net.IP{&l.ServerIP, &l.RelayIP} {
		if *ip == nil {
			continue
		}
		if err := run(context.Background(), "ip", "addr", "del", ip.String()+"/32", "dev", "lo"); err != nil && first == nil {
			first = err
		}
		*ip = nil
	}
	if first == nil {
		l.release()
	}
	return first
}

// run runs a command and returns its output in the error when it fails.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netlab: %s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// runStdin is run with input on stdin.
func runStdin(ctx context.Context, stdin string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("netlab: %s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
