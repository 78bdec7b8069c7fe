package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// machineCPU returns the time all CPUs spent busy and in total since boot, from
// the first line of /proc/stat (Linux; USER_HZ ticks), and how many CPUs there are.
func machineCPU() (busy, total time.Duration, cpus int, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0, err
	}
	lines := strings.Split(string(data), "\n")
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "cpu") {
			cpus++
		}
	}
	f := strings.Fields(lines[0])
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, 0, errors.New("unexpected /proc/stat format")
	}
	const tick = time.Second / 100
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i >= 8 { // guest times are already in user and nice
			break
		}
		total += time.Duration(n) * tick
		if i != 3 && i != 4 { // idle, iowait
			busy += time.Duration(n) * tick
		}
	}
	return busy, total, cpus, nil
}

// udpCounters are the kernel's UDP totals (/proc/net/snmp): datagrams the
// kernel dropped because a socket's receive or send buffer was full.
type udpCounters struct {
	rcvbufErrors, sndbufErrors uint64
}

func readUDPCounters() (udpCounters, error) {
	f, err := os.Open("/proc/net/snmp")
	if err != nil {
		return udpCounters{}, err
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		var c udpCounters
		for i, v := range fields {
			if i >= len(names) {
				break
			}
			n, _ := strconv.ParseUint(v, 10, 64)
			switch names[i] {
			case "RcvbufErrors":
				c.rcvbufErrors = n
			case "SndbufErrors":
				c.sndbufErrors = n
			}
		}
		return c, nil
	}
	return udpCounters{}, errors.New("no Udp line in /proc/net/snmp")
}

// socketDrops sums the kernel's drop counters of the UDP sockets a process
// holds (/proc/<pid>/net/udp and udp6, matched by inode to /proc/<pid>/fd):
// datagrams that arrived while the socket's receive buffer was full.
func socketDrops(pid int) (uint64, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var drops uint64
	for _, table := range []string{"udp", "udp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
			if len(f) >= 13 && inodes[f[9]] {
				n, _ := strconv.ParseUint(f[12], 10, 64)
				drops += n
			}
		}
	}
	return drops, nil
}

// cpuSample is the CPU time used so far by the server, the bench and the machine.
type cpuSample struct {
	at          time.Time
	server      time.Duration
	bench       time.Duration
	busy, total time.Duration
	cpus        int
	udp         udpCounters
	// serverDrops and benchDrops are the receive drops of each process's UDP sockets.
	serverDrops, benchDrops uint64
}

func sampleCPU(serverPID int) (cpuSample, error) {
	s := cpuSample{at: time.Now()}
	var err error
	if s.server, err = processCPU(serverPID); err != nil {
		return s, err
	}
	if s.bench, err = processCPU(os.Getpid()); err != nil {
		return s, err
	}
	if s.busy, s.total, s.cpus, err = machineCPU(); err != nil {
		return s, err
	}
	if s.serverDrops, err = socketDrops(serverPID); err != nil {
		return s, err
	}
	if s.benchDrops, err = socketDrops(os.Getpid()); err != nil {
		return s, err
	}
	s.udp, err = readUDPCounters()
	return s, err
}
