package netlab

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Delay is what the relay adds to a client's packets: Up to those it
// sends, Down to those it receives, each plus up to Jitter at random (in
// order: a packet never overtakes the one before it).
type Delay struct {
	Up, Down, Jitter time.Duration
}

// Relay forwards UDP between the clients and the server's WebRTC port with
// a delay per client, since the kernel here has no netem. The server
// announces the relay's address as its ICE candidate (webrtc_public_ips),
// so that clients send their media to the relay; the relay sends it on from
// a socket per client, and the answers back from its public address.
// A mutex guards the flows and the delays; each flow's two goroutines and
// the reading goroutine belong to the relay, and Close waits for them.
type Relay struct {
	conn   *net.UDPConn
	target netip.AddrPort
	bindIP netip.Addr

	mu     sync.Mutex
	flows  map[netip.AddrPort]*flow
	delays map[netip.Addr]Delay
	closed bool
	wg     sync.WaitGroup
}

// flow is one client address's path through the relay.
type flow struct {
	client   netip.AddrPort
	upstream *net.UDPConn
	up, down *delayLine
}

// NewRelay listens on listen and forwards to target.
func NewRelay(listen, target netip.AddrPort) (*Relay, error) {
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(listen))
	if err != nil {
		return nil, err
	}
	conn.SetReadBuffer(4 << 20)
	conn.SetWriteBuffer(4 << 20)
	r := &Relay{conn: conn, target: target, bindIP: listen.Addr(), flows: map[netip.AddrPort]*flow{}, delays: map[netip.Addr]Delay{}}
	r.wg.Go(r.read)
	return r, nil
}

// SetDelay sets the delay of the client at ip, from its next packet on.
func (r *Relay) SetDelay(ip netip.Addr, d Delay) {
	r.mu.Lock()
	r.delays[ip] = d
	r.mu.Unlock()
}

func (r *Relay) delay(ip netip.Addr) Delay {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.delays[ip]
}

// read takes the clients' packets and queues each on its flow's up line.
func (r *Relay) read() {
	buf := make([]byte, 2048)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		f := r.flow(from)
		if f == nil {
			continue
		}
		d := r.delay(from.Addr())
		f.up.push(append([]byte(nil), buf[:n]...), d.Up, d.Jitter)
	}
}

// flow returns the client's flow, starting it on first use (nil once closed).
func (r *Relay) flow(client netip.AddrPort) *flow {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	if f := r.flows[client]; f != nil {
		return f
	}
	up, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.bindIP, 0)), net.UDPAddrFromAddrPort(r.target))
	if err != nil {
		return nil
	}
	up.SetReadBuffer(4 << 20)
	f := &flow{client: client, upstream: up}
	f.up = newDelayLine(&r.wg, func(p []byte) { up.Write(p) })
	f.down = newDelayLine(&r.wg, func(p []byte) { r.conn.WriteToUDPAddrPort(p, client) })
	r.flows[client] = f
	r.wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			n, err := up.Read(buf)
			if err != nil {
				return // closed
			}
			d := r.delay(client.Addr())
			f.down.push(append([]byte(nil), buf[:n]...), d.Down, d.Jitter)
		}
	})
	return f
}

// Close stops the relay and waits for its goroutines.
func (r *Relay) Close() {
	r.mu.Lock()
	r.closed = true
	flows := r.flows
	r.flows = nil
	r.mu.Unlock()
	r.conn.Close()
	for _, f := range flows {
		f.upstream.Close()
		f.up.close()
		f.down.close()
	}
	r.wg.Wait()
}

// delayLine sends packets after their delay, in order, from one goroutine.
// When more than its capacity waits, new packets are dropped, as a full
// router queue would.
type delayLine struct {
	q        chan delayed
	done     chan struct{}
	lastDue  time.Time // guarded by being pushed from one goroutine
	closeOne sync.Once
}

type delayed struct {
	due  time.Time
	data []byte
}

func newDelayLine(wg *sync.WaitGroup, send func([]byte)) *delayLine {
	l := &delayLine{q: make(chan delayed, 8192), done: make(chan struct{})}
	wg.Go(func() {
		t := time.NewTimer(time.Hour)
		defer t.Stop()
		for {
			select {
			case p := <-l.q:
				if wait := time.Until(p.due); wait > 0 {
					t.Reset(wait)
					select {
					case <-t.C:
					case <-l.done:
						return
					}
				}
				send(p.data)
			case <-l.done:
				return
			}
		}
	})
	return l
}

// push queues p to leave after d plus up to jitter, never before the
// packet queued before it. Only one goroutine pushes to a line.
func (l *delayLine) push(p []byte, d, jitter time.Duration) {
	due := time.Now().Add(d)
	if jitter > 0 {
		due = due.Add(rand.N(jitter))
	}
	if due.Before(l.lastDue) {
		due = l.lastDue
	}
	l.lastDue = due
	select {
	case l.q <- delayed{due: due, data: p}:
	default:
	}
}

func (l *delayLine) close() { l.closeOne.Do(func() { close(l.done) }) }
