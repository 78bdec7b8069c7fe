package main

import (
	"io"
	"net"
	"sync"
	"testing"
)

// storeProxy is a TCP proxy between one node and MinIO that a test can
// cut: while cut, it closes the connections it carries and every new one,
// so the node cannot reach the store while the other nodes still do.
type storeProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// startStoreProxy listens on a loopback port for target (host:port) until
// the test ends.
func startStoreProxy(t *testing.T, target string) *storeProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &storeProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.setCut(true)
		p.wg.Wait()
	})
	return p
}

// addr is the proxy's host:port, for the node's s3_endpoint.
func (p *storeProxy) addr() string { return p.ln.Addr().String() }

// setCut cuts the node off the store, or lets it through again.
func (p *storeProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
	}
}

// track registers c while the proxy is not cut; false if it is.
func (p *storeProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *storeProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *storeProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil || !p.track(up) { // track closes up when cut
			p.untrack(c)
			continue
		}
		p.wg.Add(2)
		for _, pair := range [][2]net.Conn{{c, up}, {up, c}} {
			go func() {
				defer p.wg.Done()
				io.Copy(pair[0], pair[1])
				p.untrack(pair[0])
				p.untrack(pair[1])
			}()
		}
	}
}
