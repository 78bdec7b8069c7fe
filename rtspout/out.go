// Package rtspout is RTSP out: it gives RTSP readers a room's on-air program,
// the one the HLS muxer and the recorder consume (package program). Each
// room with readers has one consumer of its program that packetizes every
// frame once; each reader has a gortsplib stream of its own, with its own
// sequence numbers and timestamps, so that a reader's stream runs on,
// gapless and monotonic, when the program switches source, goes idle for a
// moment (an encoder reconnecting) or comes back with another encoder (new
// parameter sets, SSRC and timestamps): a reader starts, and starts again
// after each gap, at a keyframe that carries its SPS and PPS.
//
// The RTSP server itself (one port for encoders and readers) is ingest's:
// ingest checks each reader's credentials and hands its DESCRIBE, SETUP,
// PLAY and its end to Out.
package rtspout

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"

	"lectern/program"
)

// ErrNoProgram: the room has nothing on air to read.
var ErrNoProgram = errors.New("rtspout: nothing is on air")

// Programs gives RTSP out a room's program (program.Set).
type Programs interface {
	Subscribe(room string, c program.Consumer) (*program.Subscription, error)
}

// Out serves rooms' programs to RTSP readers. Its maps are guarded by mu: the
// rooms' outs, the readers described on a connection and not yet set up, and
// the set-up readers by session.
type Out struct {
	// IdleGrace is how long readers stay while nothing is on air
	// (DefaultIdleGrace); set it before the first reader comes.
	IdleGrace time.Duration

	progs Programs
	log   *slog.Logger

	mu       sync.Mutex
	rooms    map[string]*roomOut
	pending  map[*gortsplib.ServerConn]*reader
	sessions map[*gortsplib.ServerSession]*reader
	closed   bool
	// wg counts the rooms' watch goroutines.
	wg sync.WaitGroup
}

// New returns RTSP out on progs. It starts nothing until a reader comes;
// Close ends every reader and waits.
func New(progs Programs, log *slog.Logger) *Out {
	return &Out{IdleGrace: DefaultIdleGrace, progs: progs, log: log, rooms: map[string]*roomOut{},
		pending: map[*gortsplib.ServerConn]*reader{}, sessions: map[*gortsplib.ServerSession]*reader{}}
}

// Describe makes a stream of the room's program for the reader on conn (its
// description is the DESCRIBE answer). It waits for the program's first
// video frame when the room's out is new.
func (o *Out) Describe(srv *gortsplib.Server, conn *gortsplib.ServerConn, room string) (*gortsplib.ServerStream, error) {
	r, err := o.open(srv, room)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	prev := o.pending[conn]
	o.pending[conn] = r
	o.mu.Unlock()
	if prev != nil {
		o.closeReader(prev)
	}
	return r.stream, nil
}

// Setup binds the stream described on conn to session, or makes one when
// the connection described no stream of this room.
func (o *Out) Setup(srv *gortsplib.Server, conn *gortsplib.ServerConn, session *gortsplib.ServerSession, room string) (*gortsplib.ServerStream, error) {
	o.mu.Lock()
	r := o.sessions[session]
	if r == nil {
		r = o.pending[conn]
		delete(o.pending, conn)
	}
	o.mu.Unlock()
	if r != nil && r.room.id != room {
		o.closeReader(r) // described another room
		r = nil
	}
	if r == nil {
		var err error
		if r, err = o.open(srv, room); err != nil {
			return nil, err
		}
	}
	o.mu.Lock()
	o.sessions[session] = r
	o.mu.Unlock()
	return r.stream, nil
}

// Play starts the session's reader at the program's next keyframe.
func (o *Out) Play(session *gortsplib.ServerSession) {
	o.mu.Lock()
	r := o.sessions[session]
	o.mu.Unlock()
	if r != nil {
		r.play()
	}
}

// CloseConn drops a reader described on conn and never set up.
func (o *Out) CloseConn(conn *gortsplib.ServerConn) {
	o.mu.Lock()
	r := o.pending[conn]
	delete(o.pending, conn)
	o.mu.Unlock()
	if r != nil {
		o.closeReader(r)
	}
}

// CloseSession ends the session's reader.
func (o *Out) CloseSession(session *gortsplib.ServerSession) {
	o.mu.Lock()
	r := o.sessions[session]
	delete(o.sessions, session)
	o.mu.Unlock()
	if r != nil {
		o.closeReader(r)
	}
}

// Close ends every reader, detaches from every program and waits for the
// rooms' goroutines. It is idempotent.
func (o *Out) Close() {
	o.mu.Lock()
	o.closed = true
	var readers []*reader
	for c, r := range o.pending {
		readers = append(readers, r)
		delete(o.pending, c)
	}
	for s, r := range o.sessions {
		readers = append(readers, r)
		delete(o.sessions, s)
	}
	o.mu.Unlock()
	for _, r := range readers {
		o.closeReader(r)
	}
	o.wg.Wait()
}
