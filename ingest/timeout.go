package ingest

import (
	"net"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
)

// Guesses limits wrong credentials per client address; api.StreamKeyGuesses
// implements it, shared with WHIP.
type Guesses interface {
	// RetryAfter is how long addr (an IP) must wait before it may try again, or 0.
	RetryAfter(addr string) time.Duration
	// Fail counts one wrong credential from addr.
	Fail(addr string)
}

// timedListener hands gortsplib connections whose reads have deadlines
// (timedConn), and closes at once the connections of addresses that sent
// too many wrong credentials.
type timedListener struct {
	net.Listener
	read, idle time.Duration
	// guesses returns the server's Guesses, or nil; it is read per accept
	// because the field is set after New.
	guesses func() Guesses
}

func (l timedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if g := l.guesses(); g != nil && g.RetryAfter(hostOf(c.RemoteAddr())) > 0 {
			c.Close()
			continue
		}
		return &timedConn{Conn: c, read: l.read, idle: l.idle, last: time.Now(), first: true}, nil
	}
}

func hostOf(a net.Addr) string {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// timedConn is one RTSP connection. gortsplib sets read deadlines only while
// an encoder records over TCP; timedConn adds the others: the first request
// must come within read, a request once begun must end within read, and a
// connection that neither plays nor records must send a request every idle.
// A silent or trickling client is cut; one that plays or records is left to
// gortsplib's own deadlines and session timeouts. Its fields are owned by mu.
type timedConn struct {
	net.Conn
	read, idle time.Duration

	mu sync.Mutex
	// last is when the connection opened or its last request ended.
	last  time.Time
	first bool
	// partial is when bytes came after the last request ended; zero: none.
	partial time.Time
	// media: the connection plays or records.
	media bool
	// method of the request being answered, for answered.
	method base.Method
	// lib is the deadline gortsplib asked for.
	lib time.Time
}

// deadline is the read deadline now. Called with mu held.
func (c *timedConn) deadline() time.Time {
	if c.media {
		return c.lib
	}
	d := c.last.Add(c.idle)
	if c.first {
		d = c.last.Add(c.read)
	}
	if !c.partial.IsZero() {
		d = earliest(d, c.partial.Add(c.read))
	}
	if !c.lib.IsZero() {
		d = earliest(d, c.lib)
	}
	return d
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (c *timedConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	c.Conn.SetReadDeadline(c.deadline())
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if !c.media && c.partial.IsZero() {
			c.partial = time.Now()
		}
		c.mu.Unlock()
	}
	return n, err
}

// SetReadDeadline keeps gortsplib's deadline, combined with the connection's own.
func (c *timedConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lib = t
	return c.Conn.SetReadDeadline(c.deadline())
}

// SetDeadline is SetReadDeadline and SetWriteDeadline.
func (c *timedConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

// requested notes that a whole request arrived.
func (c *timedConn) requested(m base.Method) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.first, c.last, c.partial, c.method = false, time.Now(), time.Time{}, m
}

// answered notes the answer to the last request: a successful PLAY or
// RECORD makes the connection a media one, PAUSE ends that.
func (c *timedConn) answered(status base.StatusCode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if status != base.StatusOK {
		return
	}
	switch c.method {
	case base.Play, base.Record:
		c.media = true
	case base.Pause, base.Teardown:
		c.media = false
	}
}

// sessionEnded returns the connection to requests: its idle time counts from now.
func (c *timedConn) sessionEnded() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.media {
		c.media, c.last, c.partial = false, time.Now(), time.Time{}
		c.Conn.SetReadDeadline(c.deadline())
	}
}

// connTimeouts knows which connections carry each session, so that a
// session's end returns them to the idle timeout. Its map is owned by mu.
type connTimeouts struct {
	mu       sync.Mutex
	sessions map[*gortsplib.ServerSession][]*timedConn
}

func timedOf(sc *gortsplib.ServerConn) *timedConn {
	tc, _ := sc.NetConn().(*timedConn)
	return tc
}

// OnRequest notes that a whole request arrived (gortsplib calls it on the
// connection's goroutine, before handling the request).
func (s *Server) OnRequest(sc *gortsplib.ServerConn, req *base.Request) {
	if tc := timedOf(sc); tc != nil {
		tc.requested(req.Method)
	}
}

// OnResponse notes whether the connection now plays or records.
func (s *Server) OnResponse(sc *gortsplib.ServerConn, res *base.Response) {
	tc := timedOf(sc)
	if tc == nil {
		return
	}
	tc.answered(res.StatusCode)
	if ss := sc.Session(); ss != nil && res.StatusCode == base.StatusOK {
		s.timeouts.mu.Lock()
		defer s.timeouts.mu.Unlock()
		if s.timeouts.sessions == nil {
			s.timeouts.sessions = map[*gortsplib.ServerSession][]*timedConn{}
		}
		for _, c := range s.timeouts.sessions[ss] {
			if c == tc {
				return
			}
		}
		s.timeouts.sessions[ss] = append(s.timeouts.sessions[ss], tc)
	}
}

// sessionClosed returns the session's connections to the idle timeout.
func (s *Server) sessionClosed(ss *gortsplib.ServerSession) {
	s.timeouts.mu.Lock()
	conns := s.timeouts.sessions[ss]
	delete(s.timeouts.sessions, ss)
	s.timeouts.mu.Unlock()
	for _, c := range conns {
		c.sessionEnded()
	}
}
