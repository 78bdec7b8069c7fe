package chat

import (
	"context"
	"errors"
	"time"

	"lectern/access"
	"lectern/storage"
)

// MaxMute is the longest a member's chat may be muted at once.
const MaxMute = 30 * 24 * time.Hour

// Delete turns a message into a tombstone, delivered live and shown in
// history. Its sender may delete it, and so may moderators; v must be able
// to see it.
func (h *Hub) Delete(ctx context.Context, roomID string, v Viewer, id int64) (Message, error) {
	m, err := h.visibleMessage(ctx, roomID, v, id)
	if err != nil {
		return Message{}, err
	}
	if !v.moderates() && m.Sender != v.Identity {
		return Message{}, ErrNoModerate
	}
	d, err := h.db.DeleteMessage(ctx, roomID, id, h.cfg.Now())
	if err != nil {
		return Message{}, storeError(err)
	}
	h.changed(roomID)
	return wire(d), nil
}

// Approve shows a pending question to everyone (moderate).
func (h *Hub) Approve(ctx context.Context, roomID string, v Viewer, id int64) (Message, error) {
	return h.setState(ctx, roomID, v, id, []string{storage.StatePending}, storage.StateApproved)
}

// Answer marks a pending or approved question answered, which also shows it
// to everyone (moderate).
func (h *Hub) Answer(ctx context.Context, roomID string, v Viewer, id int64) (Message, error) {
	return h.setState(ctx, roomID, v, id, []string{storage.StatePending, storage.StateApproved}, storage.StateAnswered)
}

func (h *Hub) setState(ctx context.Context, roomID string, v Viewer, id int64, from []string, to string) (Message, error) {
	if !v.moderates() {
		return Message{}, ErrNoModerate
	}
	if _, err := h.visibleMessage(ctx, roomID, v, id); err != nil {
		return Message{}, err
	}
	m, err := h.db.SetQuestionState(ctx, roomID, id, from, to)
	if err != nil {
		return Message{}, storeError(err)
	}
	h.changed(roomID)
	return wire(m), nil
}

// visibleMessage loads a message v may see; one it may not is not found.
func (h *Hub) visibleMessage(ctx context.Context, roomID string, v Viewer, id int64) (storage.Message, error) {
	m, err := h.db.Message(ctx, roomID, id)
	if err != nil {
		return storage.Message{}, storeError(err)
	}
	if !Visible(m, v) {
		return storage.Message{}, ErrMessageNotFound
	}
	return m, nil
}

// Mute keeps identity from posting in the room for d (moderate).
func (h *Hub) Mute(ctx context.Context, roomID string, v Viewer, identity string, d time.Duration) (storage.ChatMute, error) {
	if !v.moderates() {
		return storage.ChatMute{}, ErrNoModerate
	}
	if err := CheckRecipient(identity); err != nil {
		return storage.ChatMute{}, invalid("identity: must be 1 to 128 letters, digits or . _ @ -")
	}
	if d < time.Second || d > MaxMute {
		return storage.ChatMute{}, invalid("seconds: must be 1 to 2592000 (30 days)")
	}
	m, err := h.db.SetChatMute(ctx, roomID, identity, h.cfg.Now().Add(d))
	if errors.Is(err, storage.ErrNotFound) {
		return storage.ChatMute{}, ErrRoomNotFound
	}
	return m, err
}

// Unmute lifts a mute (moderate); ErrNotMuted if there is none.
func (h *Hub) Unmute(ctx context.Context, roomID string, v Viewer, identity string) error {
	if !v.moderates() {
		return ErrNoModerate
	}
	err := h.db.DeleteChatMute(ctx, roomID, identity)
	if errors.Is(err, storage.ErrNotFound) {
		return ErrNotMuted
	}
	return err
}

// Mutes lists the room's mutes in force (moderate).
func (h *Hub) Mutes(ctx context.Context, roomID string, v Viewer) ([]storage.ChatMute, error) {
	if !v.moderates() {
		return nil, ErrNoModerate
	}
	return h.db.ChatMutes(ctx, roomID, h.cfg.Now())
}

// History returns up to limit messages v may see with ids below before (0:
// the newest), oldest first, tombstones included.
func (h *Hub) History(ctx context.Context, roomID string, v Viewer, before int64, limit int) ([]Message, error) {
	if !v.Operator && !v.Permissions.Has(access.Receive) {
		return nil, ErrNoReceive
	}
	ms, err := h.db.History(ctx, roomID, v.filter(), before, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[i] = wire(m)
	}
	return out, nil
}

func storeError(err error) error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return ErrMessageNotFound
	case errors.Is(err, storage.ErrWrongState):
		return ErrWrongState
	}
	return err
}
