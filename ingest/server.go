// Package ingest is Lectern's RTSP server, the ingress: encoders (ffmpeg,
// GStreamer, OBS) publish into rooms with ANNOUNCE/RECORD, and their streams
// become SFU tracks like any other. Players read a room's program on the same
// port (DESCRIBE/PLAY): ingest checks their credentials and hands them to
// RTSP out (Readers; package rtspout).
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/auth"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"

	"lectern/sfu"
)

// Server serves RTSP. New opens the sockets; Run serves until its context ends.
// The publisher map is guarded by mu.
type Server struct {
	cfg     Config
	auth    Authorizer
	media   *sfu.SFU
	readers Readers
	log     *slog.Logger

	// Placer, when set before Run, sends encoders and readers of rooms that
	// live on another node there (RTSP 302). Nil: every room is served here.
	Placer Placer
	// Guesses, when set before Run, limits wrong credentials per address:
	// connections of an address past the limit are closed on accept.
	Guesses Guesses
	// RelaySecret, when set before Run (the cluster's shared secret), lets
	// an encoder that reaches this node for a room another node holds be
	// relayed there instead of getting a 302 it would not follow (relay.go).
	// Empty: 302.
	RelaySecret []byte
	// Fenced, when set before Run, reports that this node may have been
	// judged dead by its cluster: every request is refused with 503 and new
	// connections are closed (fence.go). Nil: never.
	Fenced func() bool
	// timeouts tracks which connections carry each session (timeout.go).
	timeouts connTimeouts

	rtsp    *gortsplib.Server
	ln      net.Listener
	packets map[string]net.PacketConn

	mu         sync.Mutex
	publishers map[*gortsplib.ServerSession]*publisher
	// conns are the open connections, which CloseAll closes.
	conns map[*gortsplib.ServerConn]struct{}
	// relays are the encoders' sessions relayed to another node (relay.go).
	relays map[*gortsplib.ServerSession]*relay
}

// New opens the RTSP listener (and the UDP pair when configured). Readers'
// requests go to readers.
func New(cfg Config, a Authorizer, media *sfu.SFU, readers Readers, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if readers == nil {
		return nil, errors.New("ingest: readers are required")
	}
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, auth: a, media: media, readers: readers, log: log, packets: map[string]net.PacketConn{},
		publishers: map[*gortsplib.ServerSession]*publisher{}}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("rtsp_addr: %w", err)
	}
	s.ln = ln
	s.rtsp = &gortsplib.Server{
		Handler:      s,
		RTSPAddress:  ln.Addr().String(),
		ReadTimeout:  cfg.ReadTimeout,
		WriteTimeout: cfg.ReadTimeout,
		// Basic first: its password can be an access token. Digest works with stream keys.
		AuthMethods:    []auth.VerifyMethod{auth.VerifyMethodBasic, auth.VerifyMethodDigestMD5},
		WriteQueueSize: 512,
		Listen: func(string, string) (net.Listener, error) {
			return timedListener{Listener: ln, read: cfg.ReadTimeout, idle: cfg.IdleTimeout, guesses: func() Guesses { return s.Guesses }}, nil
		},
		ListenPacket: func(_, address string) (net.PacketConn, error) {
			if pc, ok := s.packets[address]; ok {
				return pc, nil
			}
			return nil, fmt.Errorf("ingest: unexpected UDP address %s", address)
		},
	}
	if cfg.UDPPort > 0 {
		host, _, _ := net.SplitHostPort(cfg.Addr)
		for i, field := range []*string{&s.rtsp.UDPRTPAddress, &s.rtsp.UDPRTCPAddress} {
			addr := net.JoinHostPort(host, strconv.Itoa(cfg.UDPPort+i))
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				s.closeSockets()
				return nil, fmt.Errorf("rtsp_udp_port: %w", err)
			}
			if u, ok := pc.(*net.UDPConn); ok {
				u.SetReadBuffer(udpReadBuffer) // the kernel caps it at net.core.rmem_max
			}
			s.packets[addr] = pc
			*field = addr
		}
	}
	return s, nil
}

// udpReadBuffer is the receive buffer asked for the RTP/RTCP sockets: RTSP
// over UDP has no repair, and the system's default (about 200 KB) overflows
// when a keyframe's burst meets a busy moment, which breaks a keyframe
// interval of the picture for every viewer.
const udpReadBuffer = 4 << 20

// Addr is the RTSP listener's address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

func (s *Server) closeSockets() {
	s.ln.Close()
	for _, pc := range s.packets {
		pc.Close()
	}
}

// Run serves RTSP until ctx is done, then closes every session.
func (s *Server) Run(ctx context.Context) error {
	if err := s.rtsp.Start(); err != nil {
		s.closeSockets()
		return fmt.Errorf("rtsp: %w", err)
	}
	s.log.Info("rtsp listening", "addr", s.ln.Addr().String(), "udp", s.cfg.UDPPort)
	waited := make(chan error, 1)
	go func() { waited <- s.rtsp.Wait() }()
	var err error
	select {
	case <-ctx.Done():
		s.rtsp.Close()
		<-waited
	case err = <-waited:
	}
	return err
}

// rtspError answers a request with status and stops it with err.
func rtspError(status base.StatusCode, err error) (*base.Response, error) {
	return &base.Response{StatusCode: status}, err
}

// refuse answers a refused request and logs why, naming the room and never
// the credentials. A request without credentials gets 401 with a challenge
// (logged at debug: every client's first request is one); wrong credentials
// get 401 and the connection closes; a token without the permission 403; an
// unknown room or one with nothing to play 404; a path that is no room 400.
func (s *Server) refuse(conn *gortsplib.ServerConn, req *base.Request, room string, err error) (*base.Response, error) {
	res, rerr := refusal(err)
	if errors.Is(err, ErrBadCredentials) && s.Guesses != nil {
		s.Guesses.Fail(hostOf(conn.NetConn().RemoteAddr()))
	}
	level := slog.LevelInfo
	if errors.Is(err, ErrNoCredentials) {
		level = slog.LevelDebug
	}
	s.log.Log(context.Background(), level, "rtsp request refused", "method", string(req.Method), "room", room,
		"status", int(res.StatusCode), "remote", conn.NetConn().RemoteAddr().String(), "reason", redacted(err))
	return res, rerr
}

// refusal is the RTSP answer to a refused request.
func refusal(err error) (*base.Response, error) {
	var challenge challengeError
	switch {
	case errors.As(err, &challenge) && !challenge.digest:
		// gortsplib's own challenge offers every method of the server;
		// this one offers only Basic, whose password can be a token.
		return &base.Response{StatusCode: base.StatusUnauthorized,
			Header: base.Header{"WWW-Authenticate": basicChallenge}}, nil
	case errors.Is(err, ErrNoCredentials), errors.Is(err, ErrBadCredentials):
		return rtspError(base.StatusUnauthorized, liberrors.ErrServerAuth{})
	case errors.Is(err, ErrRoomNotFound), errors.Is(err, ErrNoProgram):
		return rtspError(base.StatusNotFound, err)
	case errors.Is(err, ErrBadPath):
		return rtspError(base.StatusBadRequest, err)
	case errors.Is(err, ErrNotPermitted):
		return rtspError(base.StatusForbidden, err)
	}
	return rtspError(base.StatusInternalServerError, err)
}

// OnConnOpen logs new connections.
func (s *Server) OnConnOpen(ctx *gortsplib.ServerHandlerOnConnOpenCtx) {
	s.log.Debug("rtsp connection opened", "remote", ctx.Conn.NetConn().RemoteAddr().String())
	s.trackConn(ctx.Conn, true)
}

// OnConnClose logs closed connections and drops a reader described on one.
func (s *Server) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	s.trackConn(ctx.Conn, false)
	s.readers.CloseConn(ctx.Conn)
	s.log.Debug("rtsp connection closed", "remote", ctx.Conn.NetConn().RemoteAddr().String(), "err", redacted(ctx.Error))
}

// OnSessionClose ends a publisher's participant (its tracks are unpublished
// and the room hears of it), or a reader.
func (s *Server) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s.sessionClosed(ctx.Session)
	s.endRelay(ctx.Session)
	s.mu.Lock()
	p := s.publishers[ctx.Session]
	delete(s.publishers, ctx.Session)
	s.mu.Unlock()
	if p == nil {
		s.readers.CloseSession(ctx.Session)
	}
	if p != nil {
		reason := "encoder disconnected"
		if ctx.Error != nil {
			reason = "encoder disconnected: " + redacted(ctx.Error)
		}
		p.close(reason)
	}
}
