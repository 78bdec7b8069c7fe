package chat

import (
	"context"
	"errors"
	"time"

	"lectern/access"
	"lectern/storage"
)

// memberReadTimeout bounds reading one changed member.
const memberReadTimeout = 5 * time.Second

// memberKey names a member of a room.
type memberKey struct{ room, identity string }

// memberChangedLocked notes that another process changed a member of a room this
// process has subscribers in (or, with all, that changes may have been
// missed): memberLoop reads the member again and applies its permissions.
// Called with mu held.
func (h *Hub) memberChangedLocked(room, identity string, all bool) {
	for id, r := range h.rooms {
		if !all && id != room {
			continue
		}
		for s := range r.subs {
			if !s.viewer.Operator && s.viewer.Identity != "" && (all || s.viewer.Identity == identity) {
				h.stale[memberKey{id, s.viewer.Identity}] = struct{}{}
			}
		}
	}
	if len(h.stale) > 0 {
		select {
		case h.staleWake <- struct{}{}:
		default:
		}
	}
}

// memberLoop applies the permissions of members other processes changed to
// this process's subscribers, until ctx ends.
func (h *Hub) memberLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.staleWake:
		}
		h.mu.Lock()
		stale := h.stale
		h.stale = map[memberKey]struct{}{}
		h.mu.Unlock()
		for k := range stale {
			h.reloadMember(ctx, k)
		}
	}
}

// reloadMember reads a member and applies its permissions. A member that no
// longer exists keeps what its token grants, as in the process that deleted it.
func (h *Hub) reloadMember(ctx context.Context, k memberKey) {
	ctx, cancel := context.WithTimeout(ctx, memberReadTimeout)
	defer cancel()
	m, err := h.db.Member(ctx, k.room, k.identity)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return
	case err != nil:
		h.warns.warn(h.log, "member", "chat: reading a changed member failed", "room", k.room, "identity", k.identity, "err", err)
		return
	}
	p, err := access.ParsePermissions(m.Permissions)
	if err != nil {
		h.warns.warn(h.log, "member", "chat: a changed member has bad permissions", "room", k.room, "identity", k.identity, "err", err)
		return
	}
	h.SetPermissions(k.room, k.identity, p)
}
