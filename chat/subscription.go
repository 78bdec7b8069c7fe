package chat

import (
	"context"
	"errors"
	"math"

	"lectern/access"
	"lectern/storage"
)

// Latest, as the after argument of Subscribe, starts a subscription with the
// room's latest messages (Config.Recent) instead of resuming.
const Latest = -1

// Subscription is one viewer's feed of a room's chat. Its consumer first
// calls Backlog until it returns an empty frame, then reads Frames until
// Done is closed; frames are in seq order and each seq arrives once.
//
// The hub's deliverer writes to frames (never closing it) and, with the
// hub's mutex, owns viewer and err; the consumer owns the backlog position.
type Subscription struct {
	hub    *Hub
	room   *room
	viewer Viewer
	// from is where the consumer resumes (Latest or a seq); cursor is where
	// live delivery starts: the backlog covers (from, cursor].
	from   int64
	cursor int64
	frames chan *Frame
	done   chan struct{}
	err    error

	pos         int64 // the backlog read so far
	backlogDone bool
	// earlier says, with Latest, that the backlog was a full page: there
	// may be older messages, which history (Hub.History) pages through.
	earlier bool
}

// Subscribe starts v's subscription to a room's chat, resuming after the seq
// after or, with Latest, starting from the latest messages. It needs the
// receive permission.
func (h *Hub) Subscribe(ctx context.Context, roomID string, v Viewer, after int64) (*Subscription, error) {
	if !v.Operator && !v.Permissions.Has(access.Receive) {
		return nil, ErrNoReceive
	}
	if after < Latest {
		return nil, invalid("after: must be a seq (0 or more)")
	}
	if _, err := h.db.Room(ctx, roomID); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, ErrRoomNotFound
		}
		return nil, err
	}
	// Read before taking the lock; used only if the room has no entry yet.
	// Anything committed after it is fetched by the first delivery round.
	last, err := h.db.LastSeq(ctx, roomID)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	r := h.rooms[roomID]
	if r == nil {
		r = &room{id: roomID, subs: map[*Subscription]struct{}{}, last: last}
		h.rooms[roomID] = r
		h.dirtyLocked(r)
	}
	s := &Subscription{hub: h, room: r, viewer: v, from: after, cursor: max(r.last, after), pos: after,
		frames: make(chan *Frame, h.cfg.QueueFrames), done: make(chan struct{})}
	r.subs[s] = struct{}{}
	return s, nil
}

// Cursor returns the seq after which live frames start: the backlog ends at
// it.
func (s *Subscription) Cursor() int64 { return s.cursor }

// Backlog returns the next page of what the subscriber missed before live
// delivery started: with Latest, the latest messages (one page); when
// resuming, the changes after the resume seq, in seq order. An empty frame
// means the backlog is done.
func (s *Subscription) Backlog(ctx context.Context) (Frame, error) {
	if s.backlogDone {
		return Frame{}, nil
	}
	f := s.Viewer().filter()
	db, roomID := s.hub.db, s.room.id
	if s.from == Latest {
		s.backlogDone = true
		ms, err := db.Recent(ctx, roomID, f, s.cursor, s.hub.cfg.Recent)
		if err != nil {
			return Frame{}, err
		}
		s.earlier = len(ms) >= s.hub.cfg.Recent
		return frameOf(ms), nil
	}
	if s.pos >= s.cursor {
		s.backlogDone = true
		return Frame{}, nil
	}
	ms, err := db.Changes(ctx, roomID, f, s.pos, s.cursor, s.hub.cfg.BacklogPage)
	if err != nil {
		return Frame{}, err
	}
	if len(ms) < s.hub.cfg.BacklogPage {
		s.backlogDone = true
	}
	if len(ms) > 0 {
		s.pos = ms[len(ms)-1].Seq
	}
	return frameOf(ms), nil
}

// Earlier reports, once the backlog is read, whether a subscription that
// started from the latest messages may have older ones to page through.
func (s *Subscription) Earlier() bool { return s.earlier }

// Frames returns the live frames, in seq order after Cursor. Frames are
// shared between subscribers: read only.
func (s *Subscription) Frames() <-chan *Frame { return s.frames }

// Done is closed when the subscription ends; Err then says why.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns why the subscription ended (ErrTooSlow, ErrNoReceive,
// ErrRoomNotFound, ErrUnsubscribed, ErrClosed), or nil while it runs.
func (s *Subscription) Err() error {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.err
}

// Close ends the subscription. It is idempotent.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.endLocked(s.room, s, ErrUnsubscribed)
}

// Viewer returns the subscriber with its current permissions, which
// SetPermissions may have changed since it subscribed.
func (s *Subscription) Viewer() Viewer {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.viewer
}

// endLocked ends s with err unless it has ended, and forgets its room when
// it was the last subscriber.
func (h *Hub) endLocked(r *room, s *Subscription, err error) {
	if s.err != nil {
		return
	}
	s.err = err
	close(s.done)
	delete(r.subs, s)
	if len(r.subs) == 0 && h.rooms[r.id] == r {
		delete(h.rooms, r.id)
	}
}

// SetPermissions applies a member's changed permissions to its live
// subscriptions in a room; those that lose receive end with ErrNoReceive.
func (h *Hub) SetPermissions(roomID, identity string, p access.Permissions) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[roomID]
	if r == nil {
		return
	}
	for s := range r.subs {
		if s.viewer.Operator || s.viewer.Identity != identity {
			continue
		}
		s.viewer.Permissions = p
		if !p.Has(access.Receive) {
			h.endLocked(r, s, ErrNoReceive)
		}
	}
}

// CloseRoom ends the subscriptions to a deleted room with ErrRoomNotFound.
func (h *Hub) CloseRoom(roomID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closeRoomLocked(roomID)
}

func (h *Hub) closeRoomLocked(roomID string) {
	if r := h.rooms[roomID]; r != nil {
		for s := range r.subs {
			h.endLocked(r, s, ErrRoomNotFound)
		}
	}
}

// noBound is the upper seq bound of a delivery round's fetch.
const noBound = math.MaxInt64
