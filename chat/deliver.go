package chat

import (
	"context"
	"encoding/binary"
	"time"

	"lectern/storage"
)

// retryPause is how long a room waits after its changes could not be read.
const retryPause = 250 * time.Millisecond

// deliverLoop runs delivery rounds for dirty rooms until ctx ends.
func (h *Hub) deliverLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-h.wake:
		case <-timer.C:
		case <-ctx.Done():
			return
		}
		for {
			due, wait := h.dueRooms(time.Now())
			if len(due) == 0 {
				if wait > 0 {
					timer.Reset(wait)
				}
				break
			}
			for _, r := range due {
				h.deliver(ctx, r)
			}
		}
	}
}

// dueRooms takes the dirty rooms whose interval has passed, and says how
// long until the next of the others is due (0 if none is dirty).
func (h *Hub) dueRooms(now time.Time) (due []*room, wait time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.rooms {
		if !r.dirty {
			continue
		}
		if d := r.nextAt.Sub(now); d > 0 {
			if wait == 0 || d < wait {
				wait = d
			}
			continue
		}
		r.dirty = false
		due = append(due, r)
	}
	return due, wait
}

// deliver fetches a room's changes after the last delivered seq and fans
// them out. The query runs without the lock; subscribers that joined
// meanwhile have cursors at least as far, and fanOut skips what they have.
func (h *Hub) deliver(ctx context.Context, r *room) {
	h.mu.Lock()
	after := r.last
	h.mu.Unlock()
	ms, err := h.db.Changes(ctx, r.id, storage.MessageFilter{All: true}, after, noBound, maxRound)
	evs := make([]encoded, len(ms))
	for i, m := range ms {
		evs[i] = encode(m)
	}
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rooms[r.id] != r {
		return // every subscriber left
	}
	if err != nil {
		if ctx.Err() == nil {
			h.warns.warn(h.log, "deliver", "chat: reading changes failed; retrying", "room", r.id, "err", err)
		}
		r.nextAt = now.Add(retryPause)
		h.dirtyLocked(r)
		return
	}
	r.nextAt = now.Add(h.cfg.DeliveryInterval)
	if len(ms) == maxRound {
		r.nextAt = now // more to fetch at once
		h.dirtyLocked(r)
	}
	if len(ms) == 0 {
		return
	}
	h.fanOutLocked(r, evs)
	r.last = max(r.last, ms[len(ms)-1].Seq)
}

// fanOutLocked queues, for each subscriber, the events it may see and has
// not seen, as one frame. Subscribers that see the same events share one
// frame. A subscriber whose queue is full is dropped: it resumes by seq.
func (h *Hub) fanOutLocked(r *room, evs []encoded) {
	frames := map[string]*Frame{}
	var sel []int
	var key []byte
	for s := range r.subs {
		sel, key = sel[:0], key[:0]
		for i, e := range evs {
			if e.msg.Seq > s.cursor && Visible(e.msg, s.viewer) {
				sel = append(sel, i)
				key = binary.AppendUvarint(key, uint64(i))
			}
		}
		if len(sel) == 0 {
			continue
		}
		f, ok := frames[string(key)]
		if !ok {
			fr := frame(evs, sel)
			f = &fr
			frames[string(key)] = f
		}
		select {
		case s.frames <- f:
		default:
			h.endLocked(r, s, ErrTooSlow)
		}
	}
}
