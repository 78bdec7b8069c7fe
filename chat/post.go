package chat

import (
	"context"
	"errors"
	"time"

	"lectern/access"
	"lectern/storage"
)

// writeTimeout bounds one batch's transaction.
const writeTimeout = 10 * time.Second

// post is a message waiting for the writer, and where its result goes.
type post struct {
	msg  storage.NewMessage
	done chan postResult // capacity 1
}

type postResult struct {
	msg storage.Message
	err error
}

// Post checks and stores a message from v to the room, or to one member when
// to is not empty, and returns it once it is stored, with its ID. In a
// webinar, what the audience (no publish, no moderate) posts is a question
// pending approval.
func (h *Hub) Post(ctx context.Context, roomID string, v Viewer, text, to string) (Message, error) {
	switch {
	case v.Operator || v.Identity == "":
		return Message{}, ErrNoIdentity
	case !v.Permissions.Has(access.Send):
		return Message{}, ErrNoSend
	}
	if err := CheckText(text); err != nil {
		return Message{}, err
	}
	if to != "" {
		if err := CheckRecipient(to); err != nil {
			return Message{}, err
		}
		if to == v.Identity {
			return Message{}, invalid("to: is yourself")
		}
	}
	p, err := h.db.ChatPoster(ctx, roomID, v.Identity)
	if errors.Is(err, storage.ErrNotFound) {
		return Message{}, ErrRoomNotFound
	}
	if err != nil {
		return Message{}, err
	}
	now := h.cfg.Now()
	if p.MutedUntil.After(now) {
		return Message{}, &LimitError{Err: ErrMuted, RetryAfter: p.MutedUntil.Sub(now)}
	}
	m := storage.NewMessage{RoomID: roomID, Sender: v.Identity, SenderName: v.Name, Recipient: to,
		Kind: storage.KindMessage, Text: text, CreatedAt: now}
	slow := time.Duration(p.SlowModeSeconds) * time.Second
	if v.moderates() {
		slow = 0
	}
	if p.Mode == webinar && !v.staff() {
		if to != "" {
			return Message{}, ErrNoDirect
		}
		m.Kind, m.State = storage.KindQuestion, storage.StatePending
	}
	if err := h.limits.take(roomID, v.Identity, now, slow, p.LastPost); err != nil {
		return Message{}, err
	}
	stored, err := h.store(ctx, m)
	if err != nil {
		return Message{}, err
	}
	msg := wire(stored)
	if msg.Kind == storage.KindQuestion && h.cfg.OnQuestion != nil {
		h.cfg.OnQuestion(msg)
	}
	return msg, nil
}

// store hands m to the writer and waits for it to be stored. Once handed
// over, it waits for the outcome whatever ctx does, so that the answer says
// whether the message was stored.
func (h *Hub) store(ctx context.Context, m storage.NewMessage) (storage.Message, error) {
	p := &post{msg: m, done: make(chan postResult, 1)}
	select {
	case h.posts <- p:
	case <-ctx.Done():
		return storage.Message{}, ctx.Err()
	case <-h.stopped:
		return storage.Message{}, ErrClosed
	}
	select {
	case r := <-p.done:
		return r.msg, r.err
	case <-h.stopped:
		// The writer answers everything it took before stopping.
		select {
		case r := <-p.done:
			return r.msg, r.err
		default:
			return storage.Message{}, ErrClosed
		}
	}
}

// writeLoop stores posts in batches: whatever is waiting when a
// transaction ends goes into the next one.
func (h *Hub) writeLoop(ctx context.Context) {
	batch := make([]*post, 0, h.cfg.MaxBatch)
	for {
		select {
		case p := <-h.posts:
			batch = append(batch[:0], p)
		case <-ctx.Done():
			h.refuseWaiting()
			return
		}
	fill:
		for len(batch) < h.cfg.MaxBatch {
			select {
			case p := <-h.posts:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		h.writeBatch(ctx, batch)
	}
}

// refuseWaiting answers the posts nobody will store.
func (h *Hub) refuseWaiting() {
	for {
		select {
		case p := <-h.posts:
			p.done <- postResult{err: ErrClosed}
		default:
			return
		}
	}
}

func (h *Hub) writeBatch(ctx context.Context, batch []*post) {
	// A batch being written when the hub stops is finished, not abandoned.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	msgs := make([]storage.NewMessage, len(batch))
	for i, p := range batch {
		msgs[i] = p.msg
	}
	stored, err := h.db.InsertMessages(wctx, msgs)
	if err != nil && len(batch) > 1 {
		// One message (say, for a room deleted meanwhile) must not fail the
		// others: store them one by one.
		for _, p := range batch {
			h.writeBatch(ctx, []*post{p})
		}
		return
	}
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			err = ErrRoomNotFound
		} else {
			h.warns.warn(h.log, "store", "chat: storing messages failed", "err", err)
		}
		batch[0].done <- postResult{err: err}
		return
	}
	h.mu.Lock()
	for _, m := range stored {
		if r := h.rooms[m.RoomID]; r != nil {
			h.dirtyLocked(r)
		}
	}
	h.mu.Unlock()
	for i, p := range batch {
		p.done <- postResult{msg: stored[i]}
	}
}
