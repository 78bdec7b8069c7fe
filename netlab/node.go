package netlab

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// Node is a client's network namespace with a veth pair to the host. Its
// link is shaped on both ends: the host end's egress is the client's
// downlink, the client end's egress its uplink. Its methods are called from
// one goroutine at a time.
type Node struct {
	// Name is the namespace's name (ip netns), unique to the run.
	Name string
	// IP is the client's address, on its end of the veth.
	IP net.IP

	hostIf, nodeIf string
}

// tbfLatency is how long tbf lets a packet queue before it drops it: a
// modest home router's buffer.
const tbfLatency = "100ms"

// AddNode creates a namespace for one client, with a veth pair to the host, a
// route from the client to the server's address and back.
func (l *Lab) AddNode(ctx context.Context, name string) (*Node, error) {
	l.mu.Lock()
	idx := len(l.nodes) + 1
	l.mu.Unlock()
	if idx > 250 {
		return nil, fmt.Errorf("netlab: too many nodes")
	}
	n := &Node{
		Name:   "lectern-" + l.ID + "-" + name,
		IP:     net.IPv4(10, l.subnet, byte(idx), 2).To4(),
		hostIf: "nl" + l.ID + "h" + strconv.Itoa(idx),
		nodeIf: "nl" + l.ID + "n" + strconv.Itoa(idx),
	}
	if err := run(ctx, "ip", "netns", "add", n.Name); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.nodes = append(l.nodes, n)
	l.mu.Unlock()
	ip := n.IP.String()
	steps := [][]string{
		{"ip", "link", "add", n.hostIf, "type", "veth", "peer", "name", n.nodeIf, "netns", n.Name},
		{"ip", "link", "set", n.hostIf, "up"},
		// The host end has no address of its own (nothing on the host would
		// offer it as an ICE candidate): a route to the client is enough.
		{"ip", "route", "add", ip + "/32", "dev", n.hostIf},
		{"ip", "-n", n.Name, "link", "set", "lo", "up"},
		{"ip", "-n", n.Name, "addr", "add", ip + "/24", "dev", n.nodeIf},
		{"ip", "-n", n.Name, "link", "set", n.nodeIf, "up"},
		{"ip", "-n", n.Name, "route", "add", "default", "dev", n.nodeIf},
	}
	for _, s := range steps {
		if err := run(ctx, s[0], s[1:]...); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// close deletes the namespace, and with it the veth pair and its route.
func (n *Node) close() error {
	return run(context.Background(), "ip", "netns", "del", n.Name)
}

// SetDown limits the client's downlink to bps bits a second (0: no limit).
func (n *Node) SetDown(ctx context.Context, bps int64) error {
	return shape(ctx, nil, n.hostIf, bps)
}

// SetUp limits the client's uplink to bps bits a second (0: no limit).
func (n *Node) SetUp(ctx context.Context, bps int64) error {
	return shape(ctx, []string{"-n", n.Name}, n.nodeIf, bps)
}

// shape puts a tbf qdisc on dev's egress, or removes it for bps 0.
func shape(ctx context.Context, ns []string, dev string, bps int64) error {
	if bps <= 0 {
		// Deleting a qdisc that is not there fails: replace with the
		// default first, then delete.
		args := append(append([]string{}, ns...), "qdisc", "replace", "dev", dev, "root", "pfifo_fast")
		if err := run(ctx, "tc", args...); err != nil {
			return err
		}
		return run(ctx, "tc", append(append([]string{}, ns...), "qdisc", "del", "dev", dev, "root")...)
	}
	// A burst of 20 ms at the rate, and at least a few full packets.
	burst := max(bps/8/50, 6000)
	args := append(append([]string{}, ns...), "qdisc", "replace", "dev", dev, "root", "tbf",
		"rate", strconv.FormatInt(bps, 10)+"bit", "burst", strconv.FormatInt(burst, 10), "latency", tbfLatency)
	return run(ctx, "tc", args...)
}

// SetLoss drops UDP packets at random in the client's namespace: downPct
// percent of those arriving, upPct percent of those leaving. TCP (the
// page, the signalling websocket) is left alone so that a run measures
// media, not reconnections. 0 and 0 removes the rules.
func (n *Node) SetLoss(ctx context.Context, downPct, upPct int) error {
	ruleset := "table inet netlab\ndelete table inet netlab\n"
	if downPct > 0 || upPct > 0 {
		ruleset += "table inet netlab {\n"
		if downPct > 0 {
			ruleset += fmt.Sprintf("  chain in { type filter hook input priority 0; meta l4proto udp numgen random mod 100 < %d drop; }\n", downPct)
		}
		if upPct > 0 {
			ruleset += fmt.Sprintf("  chain out { type filter hook output priority 0; meta l4proto udp numgen random mod 100 < %d drop; }\n", upPct)
		}
		ruleset += "}\n"
	}
	return runStdin(ctx, ruleset, "ip", "netns", "exec", n.Name, "nft", "-f", "-")
}

// BlockUDPFrom drops UDP from ip arriving in the namespace, so that media
// from the server takes the relay's way only.
func (n *Node) BlockUDPFrom(ctx context.Context, ip net.IP) error {
	ruleset := fmt.Sprintf("table ip netlab_relay {\n  chain in { type filter hook input priority -10; ip saddr %s meta l4proto udp drop; }\n}\n", ip)
	return runStdin(ctx, ruleset, "ip", "netns", "exec", n.Name, "nft", "-f", "-")
}

// DownDrops returns the packets the downlink's qdisc dropped since it was
// set (tbf drops what waits longer than its latency).
func (n *Node) DownDrops(ctx context.Context) (int64, error) {
	out, err := exec.CommandContext(ctx, "tc", "-s", "qdisc", "show", "dev", n.hostIf).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("netlab: tc -s qdisc show dev %s: %v: %s", n.hostIf, err, out)
	}
	var total int64
	for _, m := range droppedRe.FindAllStringSubmatch(string(out), -1) {
		v, _ := strconv.ParseInt(m[1], 10, 64)
		total += v
	}
	return total, nil
}

var droppedRe = regexp.MustCompile(`dropped (\d+)`)

// UDPRcvbufErrors returns the namespace's count of UDP datagrams the kernel
// dropped because a socket's receive buffer was full (a process that did
// not read in time), from /proc/net/snmp.
func (n *Node) UDPRcvbufErrors(ctx context.Context) (int64, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", n.Name, "cat", "/proc/net/snmp").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("netlab: /proc/net/snmp in %s: %v: %s", n.Name, err, out)
	}
	return snmpField(string(out), "Udp:", "RcvbufErrors")
}

// HostUDPRcvbufErrors is UDPRcvbufErrors for the host's namespace, where
// the server and the relay run (and whatever else runs on the machine).
func HostUDPRcvbufErrors() (int64, error) {
	data, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0, err
	}
	return snmpField(string(data), "Udp:", "RcvbufErrors")
}

// snmpField finds a counter in /proc/net/snmp's text: a header line and a
// value line, both starting with prefix.
func snmpField(text, prefix, name string) (int64, error) {
	var header []string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != prefix {
			continue
		}
		if header == nil {
			header = f
			continue
		}
		for i, h := range header {
			if h == name && i < len(f) {
				return strconv.ParseInt(f[i], 10, 64)
			}
		}
		break
	}
	return 0, fmt.Errorf("netlab: no %s %s in /proc/net/snmp", prefix, name)
}
