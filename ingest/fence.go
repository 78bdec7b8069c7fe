package ingest

import (
	"errors"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
)

// errFenced refuses requests on a node that may have been judged dead by the
// other nodes of its cluster (cluster.Node.Fenced): another node may serve the
// room now, and an encoder must reconnect to reach it.
var errFenced = errors.New("ingest: this node is fenced off the cluster; reconnect")

// fenced reports whether this node must serve nothing (Server.Fenced).
func (s *Server) fenced() bool { return s.Fenced != nil && s.Fenced() }

// refuseFenced answers 503 Service Unavailable when the node is fenced; ok is
// false otherwise. The encoder or player reconnects, through its load balancer
// or retry loop, to a node that serves the room.
func (s *Server) refuseFenced(req *base.Request) (res *base.Response, err error, ok bool) {
	if !s.fenced() {
		return nil, nil, false
	}
	s.log.Info("rtsp request refused: node fenced", "method", string(req.Method), "path", req.URL.Path)
	return &base.Response{StatusCode: base.StatusServiceUnavailable, Header: base.Header{"Retry-After": base.HeaderValue{"1"}}}, errFenced, true
}

// trackConn keeps conn, so that CloseAll can end it; a connection opened
// while the node is fenced is closed at once.
func (s *Server) trackConn(conn *gortsplib.ServerConn, open bool) {
	s.mu.Lock()
	if s.conns == nil {
		s.conns = map[*gortsplib.ServerConn]struct{}{}
	}
	if open {
		s.conns[conn] = struct{}{}
	} else {
		delete(s.conns, conn)
	}
	s.mu.Unlock()
	if open && s.fenced() {
		conn.Close()
	}
}

// CloseAll closes every RTSP connection, publishers' and readers' alike: their
// sessions end (a publisher's participant leaves its room) and the clients see
// the connection drop, which makes encoders with a reconnect loop (ffmpeg with
// -reconnect wrappers, OBS, GStreamer's rtspclientsink with a watchdog) and
// players reconnect. The cluster calls it when the node is fenced.
func (s *Server) CloseAll() int {
	s.mu.Lock()
	conns := make([]*gortsplib.ServerConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	if len(conns) > 0 {
		s.log.Warn("rtsp connections closed: node fenced", "connections", len(conns))
	}
	return len(conns)
}
