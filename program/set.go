package program

import (
	"log/slog"
	"sync"

	"lectern/sfu"
)

// Set is the programs of the rooms on this node: a room has one while
// anything needs it, its broadcast settings (Hold) or a consumer's
// subscription (the HLS muxer, the recorder, RTSP out), and never two. The
// room map is guarded by mu; each Program owns its own state.
type Set struct {
	media *sfu.SFU
	log   *slog.Logger

	mu     sync.Mutex
	rooms  map[string]*roomState
	closed bool
}

// roomState is one room's moderator choice and, while anything needs it,
// its program.
type roomState struct {
	onAir OnAir
	prog  *Program
	held  bool
	subs  int // open subscriptions
}

// NewSet returns an empty set. Programs start when rooms are held or
// subscribed to; Close stops them all.
func NewSet(media *sfu.SFU, log *slog.Logger) *Set {
	return &Set{media: media, log: log, rooms: map[string]*roomState{}}
}

// Close stops every program and waits for them. It is idempotent.
func (s *Set) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for id, rs := range s.rooms {
		if rs.prog != nil {
			rs.prog.close()
		}
		delete(s.rooms, id)
	}
}

// Hold keeps the room's program running (and the SFU room open, with opts)
// until Release, whether or not anyone is in the room: the broadcast
// settings of a room with HLS or recording on.
func (s *Set) Hold(room string, opts sfu.RoomOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	r, err := s.media.Room(room, opts)
	if err != nil {
		return err
	}
	rs := s.state(room)
	rs.held = true
	s.start(rs, r)
	return nil
}

// Release undoes Hold: the program stops unless a consumer still needs it.
func (s *Set) Release(room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rs := s.rooms[room]; rs != nil {
		rs.held = false
		s.release(room, rs)
	}
}

// Subscribe attaches a consumer to the room's program, starting it if
// needed; the room must be live or held. The consumer gets frames from the
// next keyframe on. Closing the subscription stops a program that nothing
// else needs.
func (s *Set) Subscribe(room string, c Consumer) (*Subscription, error) {
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
		rs = s.state(room)
		s.start(rs, r)
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

// SetOnAir changes what the room's program carries. Named tracks must be
// live in the room, of the right kind and codec; a room without a program
// keeps an automatic choice for when it gets one.
func (s *Set) SetOnAir(room string, o OnAir) error {
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
		s.state(room).onAir = o
		return nil
	}
	if err := rs.prog.SetOnAir(o); err != nil {
		return err
	}
	rs.onAir = o
	return nil
}

// Status is what is on air in the room (with the moderator's choice when it
// has no program).
func (s *Set) Status(room string) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.rooms[room]
	switch {
	case rs == nil:
		return Status{}
	case rs.prog == nil:
		return Status{OnAir: rs.onAir}
	}
	return rs.prog.Status()
}

// state returns the room's state, made if needed. Called with mu held.
func (s *Set) state(room string) *roomState {
	rs := s.rooms[room]
	if rs == nil {
		rs = &roomState{}
		s.rooms[room] = rs
	}
	return rs
}

// start runs the room's program if it is not running. Called with mu held.
func (s *Set) start(rs *roomState, r *sfu.Room) {
	if rs.prog == nil {
		rs.prog = newProgram(r, rs.onAir, s.log)
	}
}

// release stops the program of a room that no longer needs one. Called with mu held.
func (s *Set) release(room string, rs *roomState) {
	if rs.held || rs.subs > 0 {
		return
	}
	if rs.prog != nil {
		rs.prog.close()
		rs.prog = nil
	}
	if rs.onAir == (OnAir{}) {
		delete(s.rooms, room)
	}
}
