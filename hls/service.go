// Package hls is Lectern's broadcast: each room's on-air program (one video
// and one audio track of the room, switched by moderators or by who speaks,
// on one continuous timeline) and its consumers, first of all a Low-Latency
// HLS muxer (RFC 8216bis) whose playlists, parts and segments are kept in
// memory and served to any number of viewers, with one rendition per simulcast
// layer. The recorder and RTSP out subscribe to the same program.
package hls

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

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

// Service runs the programs and muxers of every broadcasting room. Its room
// map is guarded by mu; each Program owns its own state.
type Service struct {
	cfg   Config
	media *sfu.SFU
	log   *slog.Logger
	sign  sessionSigner
	stats stats
	cdn   *cdn // nil unless UseCDN

	mu     sync.RWMutex
	rooms  map[string]*roomState
	closed bool
}

// roomState is one room's broadcast: its settings, the moderator's choice,
// and the program with its consumers while anything needs it.
type roomState struct {
	settings Settings
	onAir    OnAir
	prog     *Program
	muxer    *Muxer
	muxSub   *Subscription
	mirrors  *mirrorSet // the muxer's uploads, with a CDN
	// subs counts the other consumers (recorder, RTSP readers).
	subs int
	// viewers counts who loads the media playlists.
	viewers viewers
}

// New builds the service. secret keys the sessions in HLS URIs (every node
// sharing it accepts the others' sessions). It starts nothing: Configure
// starts the programs of rooms that broadcast, and Close stops them all.
func New(cfg Config, media *sfu.SFU, secret []byte, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if media == nil || len(secret) < 16 || log == nil {
		return nil, errors.New("hls: the SFU, a secret of at least 16 bytes and a logger are required")
	}
	return &Service{cfg: cfg, media: media, log: log, sign: newSessionSigner(secret), rooms: map[string]*roomState{}}, nil
}

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// Close stops every program and waits for them. It is idempotent.
func (s *Service) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for id, rs := range s.rooms {
		s.stopProgram(rs)
		delete(s.rooms, id)
	}
	if s.cdn != nil {
		s.cdn.close()
	}
}

// Configure applies a room's settings: with HLS or recording on, the room's
// program runs (and keeps the SFU room open) and, with HLS, its muxer.
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
		r, err := s.media.Room(room, st.Media)
		if err != nil {
			return err
		}
		if err := s.startProgram(rs, r); err != nil {
			return err
		}
	}
	if st.HLS && rs.muxer == nil {
		m := newMuxer(s.cfg, s.log.With("room", room), &s.stats)
		sub, err := rs.prog.Subscribe(m)
		if err != nil {
			return err
		}
		m.sub.Store(sub)
		rs.muxer, rs.muxSub = m, sub
		if s.cdn != nil {
			rs.mirrors = s.cdn.start(s.cfg, room, m, m.log)
		}
		s.log.Info("hls on", "room", room)
	}
	if !st.HLS && rs.muxer != nil {
		s.stopMuxer(rs)
		s.log.Info("hls off", "room", room)
	}
	s.release(room, rs)
	return nil
}

// startProgram runs the program of room r if it is not running. Called with mu held.
func (s *Service) startProgram(rs *roomState, r *sfu.Room) error {
	if rs.prog == nil {
		rs.prog = newProgram(r, rs.onAir, s.log)
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

// stopProgram stops everything of a room. Called with mu held.
func (s *Service) stopProgram(rs *roomState) {
	if rs.muxer != nil {
		s.stopMuxer(rs)
	}
	if rs.prog != nil {
		rs.prog.close()
		rs.prog = nil
	}
}

// release stops the program of a room that no longer needs one. Called with mu held.
func (s *Service) release(room string, rs *roomState) {
	if rs.settings.HLS || rs.settings.Record || rs.subs > 0 {
		return
	}
	s.stopProgram(rs)
	if rs.onAir == (OnAir{}) {
		delete(s.rooms, room)
	}
}

// Subscribe attaches a consumer (the recorder, an RTSP reader) to the room's
// program, starting it if needed; the room must be live or configured.
// Closing the subscription stops a program that nothing else needs.
func (s *Service) Subscribe(room string, c Consumer) (*Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	rs := s.rooms[room]
	if rs == nil || rs.prog == nil {
		r, ok := s.media.LiveRoom(room)
		if !ok {
			return nil, ErrOffline
		}
		if rs == nil {
			rs = &roomState{}
			s.rooms[room] = rs
		}
		if err := s.startProgram(rs, r); err != nil {
			return nil, err
		}
	}
	sub, err := rs.prog.Subscribe(c)
	if err != nil {
		return nil, err
	}
	rs.subs++
	sub.onClose = func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.rooms[room] == rs {
			rs.subs--
			s.release(room, rs)
		}
	}
	return sub, nil
}

// SetOnAir changes what the room's broadcast carries. Named tracks must be
// live in the room, of the right kind and codec.
func (s *Service) SetOnAir(room string, o OnAir) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	rs := s.rooms[room]
	if rs == nil || rs.prog == nil {
		if o.Video != "" || o.Audio != "" {
			return ErrOffline
		}
		if rs == nil {
			rs = &roomState{}
			s.rooms[room] = rs
		}
		rs.onAir = o
		return nil
	}
	if err := rs.prog.SetOnAir(o); err != nil {
		return err
	}
	rs.onAir = o
	return nil
}

// Status describes a room's broadcast.
type Status struct {
	// State is "offline" (nothing on air or HLS off), "starting" (on air,
	// first segment not complete) or "live".
	State string
	// OnAir is the moderator's choice; Program is what is on air.
	OnAir   OnAir
	Program ProgramStatus
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
	s.mu.RLock()
	rs := s.rooms[room]
	var m *Muxer
	if rs != nil {
		st.OnAir, m = rs.onAir, rs.muxer
		st.Viewers = rs.viewers.count(time.Now())
		if rs.prog != nil {
			st.Program = rs.prog.Status()
			st.OnAir = st.Program.OnAir
		}
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
	s.mu.RLock()
	defer s.mu.RUnlock()
	if rs := s.rooms[room]; rs != nil {
		return rs.muxer
	}
	return nil
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
