// Package hls is Lectern's Low-Latency HLS (RFC 8216bis): a muxer per
// broadcasting room that consumes the room's on-air program (package
// program) and keeps playlists, parts and segments in memory, served to any
// number of viewers, with one rendition per simulcast layer; the CDN mirror;
// and the segmenter that the recorder (hls/record) cuts recordings with.
package hls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"lectern/program"
	"lectern/sfu"
)

// Settings are a room's stored broadcast settings.
type Settings struct {
	// HLS serves the room's program over LL-HLS.
	HLS bool
	// Record keeps the program running for the recorder.
	Record bool
	// Media are the room's SFU options, for opening the room.
	Media sfu.RoomOptions
}

// Service is the LL-HLS side of every broadcasting room: it holds the
// programs of rooms with HLS or recording on (in the program.Set it shares
// with the recorder and RTSP out) and runs a muxer per room with HLS on.
// Its room map is guarded by mu.
type Service struct {
	cfg   Config
	progs *program.Set
	log   *slog.Logger
	sign  sessionSigner
	stats stats
	cdn   *cdn // nil unless UseCDN

	mu     sync.RWMutex
	rooms  map[string]*roomState
	closed bool
	// muxed is closed, and replaced, when a room's muxer starts (under mu):
	// a playlist reload held for a room that is not on HLS here yet waits
	// on it (awaitStream).
	muxed chan struct{}
}

// roomState is one room's HLS: its settings and, with HLS on, the muxer.
type roomState struct {
	settings Settings
	muxer    *Muxer
	muxSub   *program.Subscription
	mirrors  *mirrorSet // the muxer's uploads, with a CDN
	// viewers counts who loads the media playlists.
	viewers viewers
}

// New builds the service on the node's programs. secret keys the sessions
// in HLS URIs (every node sharing it accepts the others' sessions). It
// starts nothing: Configure holds the programs of rooms that broadcast and
// starts their muxers, and Close stops them all.
func New(cfg Config, progs *program.Set, secret []byte, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if progs == nil || len(secret) < 16 || log == nil {
		return nil, errors.New("hls: the programs, a secret of at least 16 bytes and a logger are required")
	}
	return &Service{cfg: cfg, progs: progs, log: log, sign: newSessionSigner(secret), rooms: map[string]*roomState{},
		muxed: make(chan struct{})}, nil
}

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// Close stops every muxer and releases the programs it held. It is
// idempotent. The program set is closed by its owner.
func (s *Service) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for id, rs := range s.rooms {
		if rs.muxer != nil {
			s.stopMuxer(rs)
		}
		s.progs.Release(id)
		delete(s.rooms, id)
	}
	if s.cdn != nil {
		s.cdn.close()
	}
}

// Configure applies a room's settings: with HLS or recording on, the room's
// program is held (it runs, and keeps the SFU room open) and, with HLS, the
// room has a muxer.
func (s *Service) Configure(room string, st Settings) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	rs := s.rooms[room]
	if rs == nil {
		rs = &roomState{}
		s.rooms[room] = rs
	}
	rs.settings = st
	if st.HLS || st.Record {
		if err := s.progs.Hold(room, st.Media); err != nil {
			return err
		}
	}
	if st.HLS && rs.muxer == nil {
		m := newMuxer(s.cfg, s.log.With("room", room), &s.stats)
		sub, err := s.progs.Subscribe(room, m)
		if err != nil {
			return err
		}
		m.sub.Store(sub)
		rs.muxer, rs.muxSub = m, sub
		if s.cdn != nil {
			rs.mirrors = s.cdn.start(s.cfg, room, m, m.log)
		}
		close(s.muxed)
		s.muxed = make(chan struct{})
		s.log.Info("hls on", "room", room)
	}
	if !st.HLS && rs.muxer != nil {
		s.stopMuxer(rs)
		s.log.Info("hls off", "room", room)
	}
	if !st.HLS && !st.Record {
		s.progs.Release(room)
		delete(s.rooms, room)
	}
	return nil
}

// stopMuxer detaches the muxer; its stream ends. Called with mu held.
func (s *Service) stopMuxer(rs *roomState) {
	rs.muxSub.Close()
	rs.muxer.Idle() // the program no longer calls it: safe from here
	rs.muxer, rs.muxSub = nil, nil
	if rs.mirrors != nil {
		close(rs.mirrors.stop) // its mirrors finish the ended stream's uploads
		rs.mirrors = nil
	}
}

// SetOnAir changes what the room's broadcast carries (program.Set.SetOnAir).
func (s *Service) SetOnAir(room string, o program.OnAir) error {
	err := s.progs.SetOnAir(room, o)
	if errors.Is(err, program.ErrOffline) {
		return fmt.Errorf("%w: %w", ErrOffline, err)
	}
	return err
}

// Status describes a room's broadcast.
type Status struct {
	// State is "offline" (nothing on air or HLS off), "starting" (on air,
	// first segment not complete) or "live".
	State string
	// OnAir is the moderator's choice; Program is what is on air.
	OnAir   program.OnAir
	Program program.Status
	// Stream identifies the live HLS stream; Renditions describe its variants.
	Stream     string
	Renditions []Rendition
	// Viewers is how many clients loaded a media playlist of the room within
	// ViewerWindow (through a CDN: how many of its edges did).
	Viewers int
	Stats   Stats
}

// Rendition describes one variant stream.
type Rendition struct {
	Width, Height      int
	Bandwidth, Average int
	Codecs             string
	FrameRate          float64
}

// Status returns the room's broadcast status.
func (s *Service) Status(room string) Status {
	st := Status{State: "offline", Stats: s.stats.snapshot()}
	st.Program = s.progs.Status(room)
	st.OnAir = st.Program.OnAir
	s.mu.RLock()
	rs := s.rooms[room]
	var m *Muxer
	if rs != nil {
		m = rs.muxer
		st.Viewers = rs.viewers.count(time.Now())
	}
	s.mu.RUnlock()
	if m == nil {
		return st
	}
	live := m.current()
	if live == nil {
		return st
	}
	st.State, st.Stream = "starting", live.id
	for _, r := range live.renditionList() {
		if v, ok := variantOf(r.snap.Load(), ""); ok {
			st.State = "live"
			st.Renditions = append(st.Renditions, Rendition{Width: v.width, Height: v.height, Bandwidth: v.bandwidth,
				Average: v.average, Codecs: v.codecs, FrameRate: v.frameRate})
		}
	}
	return st
}

// Stats returns the service's running figures.
func (s *Service) Stats() Stats { return s.stats.snapshot() }

// muxer returns the room's muxer, or nil.
func (s *Service) muxer(room string) *Muxer {
	m, _ := s.muxerOrChange(room)
	return m
}

// muxerOrChange returns the room's muxer, or nil and a channel closed when a
// muxer starts.
func (s *Service) muxerOrChange(room string) (*Muxer, <-chan struct{}) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if rs := s.rooms[room]; rs != nil && rs.muxer != nil {
		return rs.muxer, nil
	}
	return nil, s.muxed
}

// awaitStream waits, until ctx ends, for the room's live stream on this
// node: its muxer, then a stream, then its first segment. It returns nil if
// no stream came (and the stream, however far it got, if one did).
func (s *Service) awaitStream(ctx context.Context, room string) *stream {
	for {
		m, muxed := s.muxerOrChange(room)
		if m == nil {
			select {
			case <-muxed:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		st, changed := m.liveOrChange()
		if st != nil {
			// Its first segment, so the player gets something to play.
			if rs := st.renditionList(); len(rs) > 0 {
				rs[0].wait(ctx, time.Hour, func(sn *snapshot) (bool, error) { return sn.ended || sn.bandwidth > 0, nil })
			}
			return st
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// sessionExpiry is when a session minted now for a token ending at tokenExpiry ends.
func (s *Service) sessionExpiry(now, tokenExpiry time.Time) time.Time {
	return expiry(now, s.cfg.SessionTTL, tokenExpiry)
}

// WaitLive blocks until the room's HLS broadcast has a complete segment in
// its first rendition (so that index.m3u8 answers), or ctx ends.
func (s *Service) WaitLive(ctx context.Context, room string) error {
	for {
		m := s.muxer(room)
		if m == nil {
			return ErrOffline
		}
		st, changed := m.liveOrChange()
		if st != nil {
			if rs := st.renditionList(); len(rs) > 0 {
				_, err := rs[0].wait(ctx, time.Hour, func(sn *snapshot) (bool, error) {
					return sn.ended || sn.bandwidth > 0, nil
				})
				if err != nil || !st.ended() {
					return err
				}
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Subscribe attaches a consumer to the room's program: it passes the call to
// the program set, so that the service can stand for the set where only
// Subscribe is needed (the recorder's Deps in tests).
func (s *Service) Subscribe(room string, c program.Consumer) (*program.Subscription, error) {
	return s.progs.Subscribe(room, c)
}
