package ingest

import (
	"fmt"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
)

// Readers serves rooms' programs to RTSP readers (rtspout.Out, beside the
// other consumers of the program). The RTSP server is one port for encoders
// and readers, so ingest takes every request, checks a reader's credentials
// and redirects, and hands the reader's requests over.
type Readers interface {
	// Describe makes a stream of the room's program for the reader on conn.
	Describe(srv *gortsplib.Server, conn *gortsplib.ServerConn, room string) (*gortsplib.ServerStream, error)
	// Setup gives session the stream described on conn, or a new one.
	Setup(srv *gortsplib.Server, conn *gortsplib.ServerConn, session *gortsplib.ServerSession, room string) (*gortsplib.ServerStream, error)
	// Play starts the session's reader.
	Play(session *gortsplib.ServerSession)
	// CloseConn and CloseSession end what a connection or session had.
	CloseConn(conn *gortsplib.ServerConn)
	CloseSession(session *gortsplib.ServerSession)
}

// OnDescribe serves a room's program to readers whose token allows
// subscribe. The description names every track by an absolute URL (see
// describe).
func (s *Server) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err, fenced := s.refuseFenced(ctx.Request); fenced {
		return res, nil, err
	}
	t, err := parseTarget(ctx.Path)
	if err == nil {
		err = s.scope(ctx.Request, &t, ctx.Query)
	}
	if err == nil {
		if res, ok := s.redirect(t, ctx.Query, false); ok {
			return res, nil, nil
		}
	}
	if err == nil {
		err = s.mayRead(ctx.Conn, ctx.Request, t, ctx.Query)
	}
	var stream *gortsplib.ServerStream
	if err == nil {
		if stream, err = s.readers.Describe(s.rtsp, ctx.Conn, t.room); err != nil {
			err = fmt.Errorf("%w: %w", ErrNoProgram, err)
		}
	}
	if err != nil {
		res, err := s.refuse(ctx.Conn, ctx.Request, t.room, err)
		return res, nil, err
	}
	body, err := describe(stream.Desc, ctx.Request.URL, ctx.Path, ctx.Query)
	if err != nil {
		res, err := rtspError(base.StatusInternalServerError, err)
		return res, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK, Body: body}, nil, nil
}

// OnSetup accepts an encoder's tracks, or a reader's after checking it again.
func (s *Server) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err, fenced := s.refuseFenced(ctx.Request); fenced {
		return res, nil, err
	}
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	t, err := parseTarget(ctx.Path)
	if err == nil {
		err = s.scope(ctx.Request, &t, ctx.Query)
	}
	if err == nil {
		err = s.mayRead(ctx.Conn, ctx.Request, t, ctx.Query)
	}
	var stream *gortsplib.ServerStream
	if err == nil {
		if stream, err = s.readers.Setup(s.rtsp, ctx.Conn, ctx.Session, t.room); err != nil {
			err = fmt.Errorf("%w: %w", ErrNoProgram, err)
		}
	}
	if err != nil {
		res, err := s.refuse(ctx.Conn, ctx.Request, t.room, err)
		return res, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK}, stream, nil
}

// OnPlay starts a reader.
func (s *Server) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	if res, err, fenced := s.refuseFenced(ctx.Request); fenced {
		return res, err
	}
	s.readers.Play(ctx.Session)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// mayRead checks that the request's credentials may read the room.
func (s *Server) mayRead(conn *gortsplib.ServerConn, req *base.Request, t target, query string) error {
	actx, cancel := requestContext()
	defer cancel()
	g, err := s.authorize(actx, conn, req, t, query, false)
	if err != nil {
		return err
	}
	if !g.Subscribe {
		return fmt.Errorf("%w: %s may not subscribe", ErrNotPermitted, g.Identity)
	}
	return nil
}
