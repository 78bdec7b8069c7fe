package ingest

import (
	"fmt"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
)

// Readers get the room's program, the one that HLS and the recorder carry
// (see Programs and roomOut): each reader's stream is made at DESCRIBE on
// its connection and bound to its session at SETUP.

// OnDescribe serves a room's program to readers whose token allows
// subscribe. The description names every track by an absolute URL (see
// describe).
func (s *Server) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	t, err := parseTarget(ctx.Path)
	if err == nil {
		if res, ok := s.redirect(t, ctx.Query, false); ok {
			return res, nil, nil
		}
	}
	o, err := s.reader(ctx.Conn, ctx.Request, ctx.Path, ctx.Query)
	if err != nil {
		res, err := s.refuse(ctx.Conn, ctx.Request, t.room, err)
		return res, nil, err
	}
	s.mu.Lock()
	prev := s.pending[ctx.Conn]
	s.pending[ctx.Conn] = o
	s.mu.Unlock()
	if prev != nil {
		s.closeReader(prev)
	}
	body, err := describe(o.stream.Desc, ctx.Request.URL, ctx.Path, ctx.Query)
	if err != nil {
		res, err := rtspError(base.StatusInternalServerError, err)
		return res, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK, Body: body}, nil, nil
}

// OnSetup accepts an encoder's tracks, or a reader's after checking it again:
// the reader's session takes the stream described on its connection.
func (s *Server) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	refuse := func(err error) (*base.Response, *gortsplib.ServerStream, error) {
		t, _ := parseTarget(ctx.Path)
		res, err := s.refuse(ctx.Conn, ctx.Request, t.room, err)
		return res, nil, err
	}
	t, err := s.readerGrant(ctx.Conn, ctx.Request, ctx.Path, ctx.Query)
	if err != nil {
		return refuse(err)
	}
	s.mu.Lock()
	o := s.readers[ctx.Session]
	if o == nil {
		o = s.pending[ctx.Conn]
		delete(s.pending, ctx.Conn)
	}
	s.mu.Unlock()
	if o != nil && o.out.room != t.room {
		s.closeReader(o) // described another room
		o = nil
	}
	if o == nil { // SETUP without DESCRIBE of this room on this connection
		if o, err = s.newReader(t.room); err != nil {
			return refuse(err)
		}
	}
	s.mu.Lock()
	s.readers[ctx.Session] = o
	s.mu.Unlock()
	return &base.Response{StatusCode: base.StatusOK}, o.stream, nil
}

// OnPlay starts a reader at the program's next keyframe, which it asks for.
func (s *Server) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	s.mu.Lock()
	o := s.readers[ctx.Session]
	s.mu.Unlock()
	if o != nil {
		o.play()
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// readerGrant checks that the request's credentials may read the room.
func (s *Server) readerGrant(conn *gortsplib.ServerConn, req *base.Request, path, query string) (target, error) {
	t, err := parseTarget(path)
	if err != nil {
		return t, err
	}
	actx, cancel := requestContext()
	defer cancel()
	g, err := s.authorize(actx, conn, req, t, query, false)
	if err != nil {
		return t, err
	}
	if !g.Subscribe {
		return t, fmt.Errorf("%w: %s may not subscribe", ErrNotPermitted, g.Identity)
	}
	return t, nil
}

// reader checks the reader's credentials and makes its stream of the room's program.
func (s *Server) reader(conn *gortsplib.ServerConn, req *base.Request, path, query string) (*reader, error) {
	t, err := s.readerGrant(conn, req, path, query)
	if err != nil {
		return nil, err
	}
	return s.newReader(t.room)
}
